// Package ecrevent reads the EventBridge events that tell ecr-baseline a
// repository needs enforcing: CloudTrail records of ECR API calls.
//
// aws-lambda-go has no type for CloudTrail "AWS API Call" events, so the
// envelope and the few detail fields we use are declared here. Real records
// carry fields in loose formats (createdAt as "Nov 2, 2026, 9:31:44 AM"), so
// only what is needed is read.
package ecrevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Detail types, sources and event names the parser accepts.
const (
	SourceECR = "aws.ecr"
	// DetailTypeAPICall carries calls made by people and programs.
	DetailTypeAPICall = "AWS API Call via CloudTrail"
	// DetailTypeServiceEvent carries what ECR does itself, such as a
	// repository created by a pull-through-cache rule.
	DetailTypeServiceEvent = "AWS Service Event via CloudTrail"

	EventSourceECR = "ecr.amazonaws.com"
	// EventSourceReplication reports repositories created by replication.
	EventSourceReplication = "replication.ecr.amazonaws.com"

	EventCreateRepo       = "CreateRepository"
	EventSetRepoPolicy    = "SetRepositoryPolicy"
	EventDeleteRepoPolicy = "DeleteRepositoryPolicy"
	// EventTagResource and EventUntagResource can remove a repository's
	// exemption tag or change its value.
	EventTagResource   = "TagResource"
	EventUntagResource = "UntagResource"
)

var (
	detailTypes  = map[string]bool{DetailTypeAPICall: true, DetailTypeServiceEvent: true}
	eventSources = map[string]bool{EventSourceECR: true, EventSourceReplication: true}
	eventNames   = map[string]bool{EventCreateRepo: true, EventSetRepoPolicy: true, EventDeleteRepoPolicy: true,
		EventTagResource: true, EventUntagResource: true}
	// taggingEvents name their repository only by requestParameters.resourceArn.
	taggingEvents = map[string]bool{EventTagResource: true, EventUntagResource: true}
)

var (
	// ErrMalformed is returned for input that is not a well-formed event.
	ErrMalformed = errors.New("malformed event")
	// ErrUnsupported is returned for a well-formed event that ecr-baseline
	// does not handle: the rule should never have sent it.
	ErrUnsupported = errors.New("unsupported event")
)

// envelope is the EventBridge envelope, with AWS's JSON names.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// cloudTrailDetail holds the fields of a CloudTrail record that
// ecr-baseline reads.
type cloudTrailDetail struct {
	EventSource        string             `json:"eventSource"`
	EventName          string             `json:"eventName"`
	AWSRegion          string             `json:"awsRegion"`
	RecipientAccountID string             `json:"recipientAccountId"`
	ErrorCode          string             `json:"errorCode,omitempty"`
	ErrorMessage       string             `json:"errorMessage,omitempty"`
	UserIdentity       userIdentity       `json:"userIdentity"`
	RequestParameters  *requestParameters `json:"requestParameters"`
	ResponseElements   *responseElements  `json:"responseElements"`
	// ServiceEventDetails names the repository in service events.
	ServiceEventDetails *requestParameters `json:"serviceEventDetails"`
}

// userIdentity is who made the call.
type userIdentity struct {
	Type           string `json:"type"`
	PrincipalID    string `json:"principalId"`
	ARN            string `json:"arn"`
	AccountID      string `json:"accountId"`
	InvokedBy      string `json:"invokedBy,omitempty"`
	SessionContext *struct {
		SessionIssuer struct {
			Type string `json:"type"`
			ARN  string `json:"arn"`
		} `json:"sessionIssuer"`
	} `json:"sessionContext,omitempty"`
}

// actor is the IAM identity behind the call: the role for an assumed-role
// session (the Lambda's own writes come from its role), the caller's ARN
// otherwise, or the service that acted.
func (u userIdentity) actor() string {
	if u.SessionContext != nil && u.SessionContext.SessionIssuer.ARN != "" {
		return u.SessionContext.SessionIssuer.ARN
	}
	if u.ARN != "" {
		return u.ARN
	}
	return u.InvokedBy
}

// requestParameters are the repository fields of an ECR request.
type requestParameters struct {
	RepositoryName string `json:"repositoryName"`
	RegistryID     string `json:"registryId"`
	PolicyText     string `json:"policyText"`
	// ResourceARN is the repository TagResource and UntagResource act on.
	ResourceARN string `json:"resourceArn"`
	// Tags are those TagResource adds, or CreateRepository creates the
	// repository with.
	Tags []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
}

// responseElements carry the repository ECR created.
type responseElements struct {
	// PolicyText is the policy a SetRepositoryPolicy call stored.
	PolicyText string `json:"policyText"`
	Repository *struct {
		RepositoryARN  string `json:"repositoryArn"`
		RegistryID     string `json:"registryId"`
		RepositoryName string `json:"repositoryName"`
	} `json:"repository"`
}

// Repository identifies one repository to enforce.
type Repository struct {
	RegistryID string
	Region     string
	Name       string
	ARN        string
}

// Event is a parsed repository event.
type Event struct {
	ID string
	// Time is when the call was made (the envelope's RFC 3339 time).
	Time string
	// EventName is CreateRepository, SetRepositoryPolicy,
	// DeleteRepositoryPolicy, TagResource or UntagResource.
	EventName  string
	Repository Repository
	// Actor is who made the call (see userIdentity.actor).
	Actor string
	// FailedCall is set when CloudTrail recorded an error: the call did
	// not change anything, so there is nothing to enforce.
	FailedCall string
	// PolicyText is the policy a SetRepositoryPolicy call wrote, "" for
	// other calls.
	PolicyText string
	// TagsAdded are the tags a TagResource call set, or a CreateRepository
	// call created the repository with, by key; nil for other calls.
	TagsAdded map[string]string
}

var (
	registryIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	// From the SetRepositoryPolicy API reference, 2 to 256 characters.
	repoNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// arn:<partition>:ecr:<region>:<account>:repository/<name>; the parts
	// are checked against the event afterwards.
	repoARNPattern = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:ecr:([^:]*):([^:]*):repository/(.+)$`)
)

// Parse reads an EventBridge event carrying a CloudTrail record of an ECR
// call that may leave a repository without the baseline: CreateRepository
// (by anyone, by ECR itself for pull-through cache, or by replication) and
// SetRepositoryPolicy or DeleteRepositoryPolicy (drift), and TagResource or
// UntagResource (the exemption tag may be gone). It returns an error
// wrapping ErrMalformed or ErrUnsupported for anything else.
func Parse(raw []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Source != SourceECR || !detailTypes[env.DetailType] {
		return Event{}, fmt.Errorf("%w: source %q, detail-type %q", ErrUnsupported, env.Source, env.DetailType)
	}
	var d cloudTrailDetail
	if len(env.Detail) == 0 || string(env.Detail) == "null" {
		return Event{}, fmt.Errorf("%w: event %s has no detail", ErrMalformed, env.ID)
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return Event{}, fmt.Errorf("%w: event %s detail: %w", ErrMalformed, env.ID, err)
	}
	if !eventSources[d.EventSource] || !eventNames[d.EventName] {
		return Event{}, fmt.Errorf("%w: event %s is %s %s", ErrUnsupported, env.ID, d.EventSource, d.EventName)
	}
	ev := Event{ID: env.ID, Time: env.Time, EventName: d.EventName, FailedCall: d.ErrorCode, Actor: d.UserIdentity.actor()}
	var repo Repository
	var arnErr error
	if taggingEvents[d.EventName] {
		repo, arnErr = taggedRepositoryOf(env, d)
	} else {
		repo = repositoryOf(env, d)
	}
	ev.Repository = repo
	if d.EventName == EventSetRepoPolicy {
		ev.PolicyText = policyTextOf(d)
	}
	if (d.EventName == EventTagResource || d.EventName == EventCreateRepo) && d.RequestParameters != nil && len(d.RequestParameters.Tags) > 0 {
		ev.TagsAdded = make(map[string]string, len(d.RequestParameters.Tags))
		for _, t := range d.RequestParameters.Tags {
			ev.TagsAdded[t.Key] = t.Value
		}
	}
	// A failed call is only logged, whatever it named.
	if ev.FailedCall != "" {
		return ev, nil
	}
	if arnErr != nil {
		return Event{}, fmt.Errorf("%w: event %s: %w", ErrMalformed, env.ID, arnErr)
	}
	if err := repo.validate(); err != nil {
		return Event{}, fmt.Errorf("%w: event %s: %w", ErrMalformed, env.ID, err)
	}
	return ev, nil
}

// repositoryOf prefers what ECR answered and falls back to what was asked.
func repositoryOf(env envelope, d cloudTrailDetail) Repository {
	r := Repository{Region: first(d.AWSRegion, env.Region)}
	if d.ResponseElements != nil && d.ResponseElements.Repository != nil {
		rr := d.ResponseElements.Repository
		r.Name, r.RegistryID, r.ARN = rr.RepositoryName, rr.RegistryID, rr.RepositoryARN
	}
	for _, p := range []*requestParameters{d.RequestParameters, d.ServiceEventDetails} {
		if p != nil {
			r.Name = first(r.Name, p.RepositoryName)
			r.RegistryID = first(r.RegistryID, p.RegistryID)
		}
	}
	r.RegistryID = first(r.RegistryID, d.RecipientAccountID, env.Account)
	if r.ARN == "" && r.Name != "" {
		r.ARN = RepositoryARN(r.Region, r.RegistryID, r.Name)
	}
	return r
}

// taggedRepositoryOf reads the repository of a TagResource or UntagResource
// call from its resourceArn, which must lie in the region and account the
// call was made in: the ARN decides which repository's tags are read for
// the exemption, so a foreign one must not be taken at its word. On error
// the repository holds what could be read, for logging a failed call.
func taggedRepositoryOf(env envelope, d cloudTrailDetail) (Repository, error) {
	region, account := first(d.AWSRegion, env.Region), first(d.RecipientAccountID, env.Account)
	r := Repository{Region: region, RegistryID: account}
	if d.RequestParameters == nil || d.RequestParameters.ResourceARN == "" {
		return r, fmt.Errorf("%s names no requestParameters.resourceArn", d.EventName)
	}
	arn := d.RequestParameters.ResourceARN
	m := repoARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return r, fmt.Errorf("resourceArn %q is not an ECR repository ARN (arn:<partition>:ecr:<region>:<account>:repository/<name>)", arn)
	}
	r.Name, r.ARN = m[3], arn
	switch {
	case m[1] != region:
		return r, fmt.Errorf("resourceArn %q is in region %q, the call was made in %q", arn, m[1], region)
	case m[2] != account:
		return r, fmt.Errorf("resourceArn %q is in account %q, the call was made in %q", arn, m[2], account)
	}
	return r, nil
}

// policyTextOf prefers the policy ECR answered with over the one asked for.
func policyTextOf(d cloudTrailDetail) string {
	var answered, asked string
	if d.ResponseElements != nil {
		answered = d.ResponseElements.PolicyText
	}
	if d.RequestParameters != nil {
		asked = d.RequestParameters.PolicyText
	}
	return first(answered, asked)
}

func (r Repository) validate() error {
	switch {
	case r.Name == "":
		return errors.New("no repository name in responseElements, requestParameters or serviceEventDetails")
	case len(r.Name) < 2 || len(r.Name) > 256 || !repoNamePattern.MatchString(r.Name):
		return fmt.Errorf("repository name %q is not a valid ECR repository name", r.Name)
	case !registryIDPattern.MatchString(r.RegistryID):
		return fmt.Errorf("registry id %q is not a 12-digit account id", r.RegistryID)
	case !regionPattern.MatchString(r.Region):
		return fmt.Errorf("region %q is not an AWS region", r.Region)
	}
	// The ARN picks the tags that exempt a repository and fills
	// ${RepositoryArn}: it must name this very repository, or an event
	// could borrow another repository's exemption.
	if _, suffix, ok := strings.Cut(r.ARN, ":ecr:"); !ok || suffix != fmt.Sprintf("%s:%s:repository/%s", r.Region, r.RegistryID, r.Name) {
		return fmt.Errorf("repositoryArn %q does not name repository %s in %s, registry %s", r.ARN, r.Name, r.Region, r.RegistryID)
	}
	return nil
}

// RepositoryARN builds a repository ARN in the region's partition.
func RepositoryARN(region, registryID, name string) string {
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition(region), region, registryID, name)
}

// partition returns the AWS partition a region belongs to.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
