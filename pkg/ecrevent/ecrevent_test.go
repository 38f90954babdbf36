package ecrevent

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
)

func TestParseSamples(t *testing.T) {
	teamA := Repository{RegistryID: "123456789012", Region: "us-east-1", Name: "team-a/web",
		ARN: "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web"}
	const admin = "arn:aws:iam::123456789012:role/PlatformAdmin"
	const open = `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	tests := []struct {
		file    string
		want    Event
		wantErr error
	}{
		{file: "create-repository.json", want: Event{ID: "6f87d04b-9f74-4f04-a780-7acf4b0a9b38", Time: "2026-11-02T09:31:44Z", EventName: "CreateRepository", Repository: teamA, Actor: admin}},
		{file: "create-repository-failed.json", want: Event{ID: "0d3a6c52-1b7e-4f0e-8c6a-91e4b2f7d5a8", Time: "2026-11-02T09:31:44Z", EventName: "CreateRepository",
			FailedCall: "RepositoryAlreadyExistsException", Repository: teamA, Actor: admin}},
		{file: "create-repository-pull-through-cache.json", want: Event{ID: "b1f0c7e2-55d3-4a8e-9b61-0c2d7e4f9a11", Time: "2026-11-02T10:05:31Z", EventName: "CreateRepository",
			Actor: "ecr.amazonaws.com", Repository: Repository{RegistryID: "123456789012", Region: "us-east-1", Name: "ecr-public/docker/library/nginx",
				ARN: "arn:aws:ecr:us-east-1:123456789012:repository/ecr-public/docker/library/nginx"}}},
		{file: "create-repository-replication.json", want: Event{ID: "c4a9e3d1-0f62-4b7a-a5e8-6d1f2b3c4e57", Time: "2026-11-02T09:31:44Z", EventName: "CreateRepository",
			Actor: "replication.ecr.amazonaws.com", Repository: Repository{RegistryID: "123456789012", Region: "eu-west-1", Name: "team-a/web",
				ARN: "arn:aws:ecr:eu-west-1:123456789012:repository/team-a/web"}}},
		{file: "set-repository-policy.json", want: Event{ID: "d7e1f3a5-9b2c-4d4e-8f6a-1c3e5a7b9d02", Time: "2026-11-02T11:12:09Z", EventName: "SetRepositoryPolicy",
			Actor: admin, PolicyText: open, Repository: teamA}},
		{file: "set-repository-policy-by-enforcer.json", want: Event{ID: "e9f1a3b5-2c4d-4e6f-9a8b-3d5f7b9d1f24", Time: "2026-11-02T11:12:09Z", EventName: "SetRepositoryPolicy",
			Actor: "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", Repository: teamA, PolicyText: `{"Statement":[{"Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny","Principal":"*","Sid":"BaselineDenyInsecureTransport"},{"Action":["ecr:BatchCheckLayerAvailability","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Sid":"BaselineAllowAccountPull"}],"Version":"2012-10-17"}`}},
		{file: "delete-repository-policy.json", want: Event{ID: "f2a4c6e8-0b1d-4f3b-8d5f-7a9c1e3a5c79", Time: "2026-11-02T11:20:44Z", EventName: "DeleteRepositoryPolicy",
			Actor: admin, Repository: teamA}},
		{file: "tag-resource.json", want: Event{ID: "3b5d7f91-a2c4-4e6b-8d0f-2a4c6e8b0d13", Time: "2026-11-02T11:31:02Z", EventName: "TagResource",
			Actor: admin, Repository: teamA, TagsAdded: map[string]string{"ecr-baseline:exempt": "false"}}},
		{file: "untag-resource.json", want: Event{ID: "4c6e8a02-b3d5-4f7c-9e1a-3b5d7f9c1e24", Time: "2026-11-02T11:33:47Z", EventName: "UntagResource",
			Actor: admin, Repository: teamA}},
		{file: "untag-resource-failed.json", want: Event{ID: "5d7f9b13-c4e6-4a8d-8f2b-4c6e8a0d2f35", Time: "2026-11-02T11:32:15Z", EventName: "UntagResource",
			FailedCall: "AccessDenied", Actor: admin, Repository: teamA}},
		{file: "not-ours.json", wantErr: ErrUnsupported},
		{file: "parameter-change.json", wantErr: ErrUnsupported},
	}
	if n := len(samples.All(t)); n != len(tests) {
		t.Errorf("events/ holds %d samples, the table covers %d: add the new ones here", n, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(samples.Read(t, tt.file))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBadInput(t *testing.T) {
	good := string(samples.Read(t, "create-repository.json"))
	tag, untag := string(samples.Read(t, "tag-resource.json")), string(samples.Read(t, "untag-resource.json"))
	tests := []struct {
		name    string
		input   string
		wantErr error
		want    string
	}{
		{"empty", "", ErrMalformed, "malformed event: unexpected end of JSON input"},
		{"truncated", good[:len(good)/2], ErrMalformed, "malformed event"},
		{"array", "[]", ErrMalformed, "cannot unmarshal array"},
		{"null", "null", ErrUnsupported, `source "", detail-type ""`},
		{"backfill-like payload", `{"action":"backfill"}`, ErrUnsupported, `source ""`},
		{"wrong source", strings.Replace(good, `"source": "aws.ecr"`, `"source": "aws.s3"`, 1), ErrUnsupported, `source "aws.s3"`},
		{"wrong event name", strings.Replace(good, `"eventName": "CreateRepository"`, `"eventName": "DeleteRepository"`, 1), ErrUnsupported, "ecr.amazonaws.com DeleteRepository"},
		{"wrong detail type", strings.Replace(good, `"detail-type": "AWS API Call via CloudTrail"`, `"detail-type": "ECR Image Scan"`, 1), ErrUnsupported, `detail-type "ECR Image Scan"`},
		{"wrong event source", strings.Replace(good, `"eventSource": "ecr.amazonaws.com"`, `"eventSource": "s3.amazonaws.com"`, 1), ErrUnsupported, "s3.amazonaws.com CreateRepository"},
		{"no detail", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x"}`, ErrMalformed, "event x has no detail"},
		{"detail wrong type", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x","detail":"str"}`, ErrMalformed, "event x detail"},
		{"no repository", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x","region":"us-east-1","account":"123456789012","detail":{"eventSource":"ecr.amazonaws.com","eventName":"CreateRepository"}}`,
			ErrMalformed, "no repository name in responseElements, requestParameters or serviceEventDetails"},
		{"invalid repository name", strings.ReplaceAll(good, "team-a/web", "Team A"), ErrMalformed, `repository name "Team A" is not a valid ECR repository name`},
		{"ARN of another repository", strings.Replace(good, "repository/team-a/web", "repository/sandbox/exempt", 1), ErrMalformed,
			`repositoryArn "arn:aws:ecr:us-east-1:123456789012:repository/sandbox/exempt" does not name repository team-a/web in us-east-1, registry 123456789012`},
		{"ARN of another account", strings.Replace(good, "us-east-1:123456789012:repository", "us-east-1:999999999999:repository", 1), ErrMalformed, "does not name repository team-a/web"},
		{"invalid region", strings.ReplaceAll(good, `"us-east-1"`, `"x\"}y"`), ErrMalformed, `region "x\"}y" is not an AWS region`},
		{"invalid registry id", strings.ReplaceAll(good, `"registryId": "123456789012"`, `"registryId": "12345"`), ErrMalformed, `registry id "12345" is not a 12-digit account id`},
		{"untag: no resourceArn", strings.Replace(untag, `"resourceArn"`, `"repositoryName"`, 1), ErrMalformed,
			"event 4c6e8a02-b3d5-4f7c-9e1a-3b5d7f9c1e24: UntagResource names no requestParameters.resourceArn"},
		{"untag: no requestParameters", strings.Replace(untag, `"requestParameters"`, `"requestParams"`, 1), ErrMalformed,
			"UntagResource names no requestParameters.resourceArn"},
		{"tag: empty resourceArn", strings.Replace(tag, `"resourceArn": "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web"`, `"resourceArn": ""`, 1), ErrMalformed,
			"TagResource names no requestParameters.resourceArn"},
		{"untag: pull-through cache rule ARN", strings.Replace(untag, "repository/team-a/web\"", "pull-through-cache-rule/ecr-public\"", 1), ErrMalformed,
			`resourceArn "arn:aws:ecr:us-east-1:123456789012:pull-through-cache-rule/ecr-public" is not an ECR repository ARN`},
		{"untag: ECR Public repository ARN", strings.Replace(untag, "arn:aws:ecr:us-east-1:", "arn:aws:ecr-public::", 1), ErrMalformed,
			`resourceArn "arn:aws:ecr-public::123456789012:repository/team-a/web" is not an ECR repository ARN`},
		{"tag: foreign service ARN", strings.Replace(tag, "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web", "arn:aws:s3:::team-a-web", 1), ErrMalformed,
			`resourceArn "arn:aws:s3:::team-a-web" is not an ECR repository ARN`},
		{"untag: ARN of another region", strings.Replace(untag, "arn:aws:ecr:us-east-1:", "arn:aws:ecr:eu-west-1:", 1), ErrMalformed,
			`resourceArn "arn:aws:ecr:eu-west-1:123456789012:repository/team-a/web" is in region "eu-west-1", the call was made in "us-east-1"`},
		{"tag: ARN of another account", strings.Replace(tag, ":123456789012:repository/", ":999999999999:repository/", 1), ErrMalformed,
			`resourceArn "arn:aws:ecr:us-east-1:999999999999:repository/team-a/web" is in account "999999999999", the call was made in "123456789012"`},
		{"untag: ARN of another partition's format", strings.Replace(untag, "arn:aws:ecr:", "arn:AWS:ecr:", 1), ErrMalformed,
			"is not an ECR repository ARN"},
		{"untag: invalid repository name in ARN", strings.Replace(untag, "repository/team-a/web\"", "repository/Team_A\"", 1), ErrMalformed,
			`repository name "Team_A" is not a valid ECR repository name`},
		{"untag: empty repository name in ARN", strings.Replace(untag, "repository/team-a/web\"", "repository/\"", 1), ErrMalformed,
			`resourceArn "arn:aws:ecr:us-east-1:123456789012:repository/" is not an ECR repository ARN`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

// TestParseRepositoryInOtherPartition reads the repository of events that
// carry no ARN of ECR's answer, in the aws-cn partition: from the request's
// name (a create) or from the tagged resource's ARN.
func TestParseRepositoryInOtherPartition(t *testing.T) {
	tests := []struct{ name, eventName, request string }{
		{"name from requestParameters", "CreateRepository", `{"repositoryName":"svc/api"}`},
		{"tagged resource ARN", "UntagResource", `{"resourceArn":"arn:aws-cn:ecr:cn-north-1:111122223333:repository/svc/api","tagKeys":["ecr-baseline:exempt"]}`},
	}
	want := Repository{RegistryID: "111122223333", Region: "cn-north-1", Name: "svc/api",
		ARN: "arn:aws-cn:ecr:cn-north-1:111122223333:repository/svc/api"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"id":"e","source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"cn-north-1",
	"detail":{"eventSource":"ecr.amazonaws.com","eventName":"` + tt.eventName + `","awsRegion":"cn-north-1","recipientAccountId":"111122223333",
	"requestParameters":` + tt.request + `,"responseElements":null}}`
			got, err := Parse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got.Repository); diff != "" {
				t.Errorf("repository (-want +got):\n%s", diff)
			}
		})
	}
}

// A failed call changed nothing and is only logged, so a resourceArn ECR
// refused is no reason to fail the invocation.
func TestParseFailedTaggingCallIsNotValidated(t *testing.T) {
	in := strings.Replace(string(samples.Read(t, "untag-resource-failed.json")),
		`"resourceArn": "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web"`, `"resourceArn": "arn:aws:s3:::bucket"`, 1)
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse error = %v, want the failed call reported", err)
	}
	if got.FailedCall != "AccessDenied" || got.EventName != "UntagResource" {
		t.Errorf("got %+v, want a failed UntagResource", got)
	}
}

// TestParsePolicyText: what ECR stored decides whether a write carries the
// baseline, so its answer wins over the request, which stands in only when
// the answer is missing.
func TestParsePolicyText(t *testing.T) {
	tests := []struct{ name, response, want string }{
		{"answer and request", `{"registryId":"111122223333","repositoryName":"svc/api","policyText":"{\"stored\":1}"}`, `{"stored":1}`},
		{"request only", `null`, `{"asked":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"id":"e","source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"us-east-1",
	"detail":{"eventSource":"ecr.amazonaws.com","eventName":"SetRepositoryPolicy","awsRegion":"us-east-1",
	"requestParameters":{"repositoryName":"svc/api","policyText":"{\"asked\":1}"},"responseElements":` + tt.response + `}}`
			got, err := Parse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if got.PolicyText != tt.want {
				t.Errorf("PolicyText %q, want %q", got.PolicyText, tt.want)
			}
		})
	}
}
