package patterntest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"quamina.net/go/quamina"

	"github.com/ecr-baseline/ecr-baseline/events"
	"github.com/ecr-baseline/ecr-baseline/infra/ecrbaseline"
	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/infra/member"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

func TestMain(m *testing.M) {
	cdktest.Main(m, func(string) error { return nil })
}

// The construct's rules, by the id of their construct in the Enforcer,
// and the member stack's.
const (
	repositoryRule = "RepositoryEventsRule"
	baselineRule   = "BaselineChangeRule"
	// memberBusRule is the hub's rule on its member event bus, forwardRule
	// the member stack's rule that forwards to it: both must match what
	// the repository rule matches, from any account and region.
	memberBusRule = "MemberEventsRule"
	forwardRule   = "ForwardRule"
	noRule        = ""
)

// eventExpectations says, for every sample in events/, which rule must
// match it; noRule when neither may. A sample without an entry fails the
// test, so a new sample cannot go unchecked.
var eventExpectations = map[string]string{
	"create-repository.json": repositoryRule,
	// Repositories ECR creates itself: a pull-through cache rule's arrive
	// as "AWS Service Event via CloudTrail", replicated ones from
	// replication.ecr.amazonaws.com.
	"create-repository-pull-through-cache.json": repositoryRule,
	"create-repository-replication.json":        repositoryRule,
	// Drift: policy changes after creation.
	"set-repository-policy.json":    repositoryRule,
	"delete-repository-policy.json": repositoryRule,
	// Tag changes: removing the exemption tag or changing its value.
	"tag-resource.json":   repositoryRule,
	"untag-resource.json": repositoryRule,
	// The function's own write comes back through the rule too: the
	// function finds its role (SELF_ROLE_ARN) in
	// userIdentity.sessionContext.sessionIssuer.arn and skips it without
	// reading the policy. A pattern can't tell, since the role's ARN is
	// only known at deploy and CloudTrail spells it differently.
	"set-repository-policy-by-enforcer.json": repositoryRule,
	"parameter-change.json":                  baselineRule,
	"create-repository-failed.json":          noRule, // carries detail.errorCode
	"untag-resource-failed.json":             noRule, // carries detail.errorCode
	"not-ours.json":                          noRule, // ECR Image Action
}

// TestEventPatternMatchesSamples feeds every events/ sample to quamina,
// loaded with the patterns of both rules of a single account's stack
// exactly as they stand in the template the construct synthesizes.
func TestEventPatternMatchesSamples(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	e := newEnforcer(t, app, nil)
	q := matcher(t, template(t, awscdk.Stack_Of(e.Rule)), map[string]awsevents.Rule{repositoryRule: e.Rule, baselineRule: e.BaselineChangeRule})
	forEachSample(t, func(t *testing.T, name string, event []byte) {
		checkMatches(t, q, event, expected(t, name, nil))
	})
}

// Accounts and regions the organisation's samples are moved to: a member
// in another region, a member in the samples' region, and the hub's
// account (the samples') in another region.
const (
	memberAccount = "210987654321"
	otherRegion   = "eu-central-1"
)

// TestOrganisationPatternsMatchSamples loads the patterns of an
// organisation's hub (its own rules and its member bus rule) and of the
// member stack's forward rule, each from its synthesized template, and
// feeds them every events/ sample as it is and moved to a member account
// and another region: the member rules must match what the repository
// rule matches, wherever it happened.
func TestOrganisationPatternsMatchSamples(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	e := newEnforcer(t, app, map[string]string{"memberOrganizationalUnits": "ou-ab12-cdefgh34", "organizationId": "o-abcdefghij"})
	memberStack := member.NewStack(app, "Member", &member.StackProps{OrganizationID: "o-abcdefghij"})
	hub := matcher(t, template(t, awscdk.Stack_Of(e.Rule)), map[string]awsevents.Rule{
		repositoryRule: e.Rule, baselineRule: e.BaselineChangeRule, memberBusRule: e.EventBusRule,
	})
	forward, ok := memberStack.Node().FindChild(jsii.String(forwardRule)).(awsevents.Rule)
	if !ok {
		t.Fatalf("the member stack has no rule %s", forwardRule)
	}
	members := matcher(t, template(t, memberStack), map[string]awsevents.Rule{forwardRule: forward})

	places := []struct{ account, region string }{{"", ""}, {memberAccount, otherRegion}, {memberAccount, ""}, {"", otherRegion}}
	forEachSample(t, func(t *testing.T, name string, sample []byte) {
		want := expected(t, name, []string{memberBusRule})
		wantForwarded := expected(t, name, nil)
		if len(wantForwarded) > 0 && wantForwarded[0] == repositoryRule {
			wantForwarded = []string{forwardRule}
		} else {
			// The member stack forwards repository events only.
			wantForwarded = nil
		}
		for _, p := range places {
			event := samples.Relocated(t, sample, p.account, p.region)
			t.Run(fmt.Sprintf("account %s region %s", or(p.account, "hub"), or(p.region, "sample's")), func(t *testing.T) {
				t.Run("hub", func(t *testing.T) { checkMatches(t, hub, event, want) })
				t.Run("member", func(t *testing.T) { checkMatches(t, members, event, wantForwarded) })
			})
		}
	})
}

// newEnforcer adds an Enforcer with settings and a stand-in function to
// a stack of app.
func newEnforcer(t *testing.T, app awscdk.App, settings map[string]string) *ecrbaseline.Enforcer {
	t.Helper()
	code, err := cdktest.DummyCode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	return ecrbaseline.NewEnforcer(stack, "Enforcer", &ecrbaseline.EnforcerProps{
		PolicyText: jsii.String(policies.Baseline), CodePath: jsii.String(code), Settings: settings,
	})
}

func template(t *testing.T, stack awscdk.Stack) cdktest.Template {
	t.Helper()
	var tmpl assertions.Template
	cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(stack, nil) })
	return cdktest.FromAssertions(t, tmpl)
}

// matcher is quamina loaded with each rule's pattern exactly as it
// stands in template, named by the rule's key in rules.
func matcher(t *testing.T, template cdktest.Template, rules map[string]awsevents.Rule) *quamina.Quamina {
	t.Helper()
	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, rule := range rules {
		pattern := marshal(t, template.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(rule))["EventPattern"])
		if err := q.AddPattern(name, pattern); err != nil {
			t.Fatalf("quamina rejects the pattern of %s %s: %v", name, pattern, err)
		}
	}
	return q
}

// forEachSample runs check on every events/ sample, in a subtest named
// after it, and fails when eventExpectations names a sample that is gone.
func forEachSample(t *testing.T, check func(t *testing.T, name string, event []byte)) {
	t.Helper()
	samples, err := fs.Glob(events.FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range samples {
		seen[name] = true
		event, err := fs.ReadFile(events.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { check(t, name, event) })
	}
	for name := range eventExpectations {
		if !seen[name] {
			t.Errorf("events/%s is expected but missing", name)
		}
	}
}

// expected is the rules that must match the sample name: its entry in
// eventExpectations, and with it alsoRepository when that is the
// repository rule.
func expected(t *testing.T, name string, alsoRepository []string) []string {
	t.Helper()
	want, ok := eventExpectations[name]
	if !ok {
		t.Fatalf("events/%s has no entry in eventExpectations: say which rule must match it", name)
	}
	switch want {
	case noRule:
		return nil
	case repositoryRule:
		return append([]string{want}, alsoRepository...)
	}
	return []string{want}
}

func checkMatches(t *testing.T, q *quamina.Quamina, event []byte, want []string) {
	t.Helper()
	matches, err := q.MatchesForEvent(event)
	if err != nil {
		t.Fatalf("quamina cannot read the event: %v", err)
	}
	var got []string
	for _, m := range matches {
		got = append(got, fmt.Sprint(m))
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("rules matching the event (-want +got):\n%s", d)
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// or is s, or otherwise when s is empty: a place's name in a subtest.
func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
