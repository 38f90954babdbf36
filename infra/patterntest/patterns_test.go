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
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var tmpDir string // removed after the tests

func TestMain(m *testing.M) {
	cdktest.Main(m, func(dir string) error {
		tmpDir = dir
		return nil
	})
}

// The construct's rules, by the id of their construct in the Enforcer.
const (
	repositoryRule = "RepositoryEventsRule"
	baselineRule   = "BaselineChangeRule"
	noRule         = ""
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
// loaded with the patterns of both rules exactly as they stand in the
// template the construct synthesizes.
func TestEventPatternMatchesSamples(t *testing.T) {
	code, err := cdktest.DummyCode(tmpDir)
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(tmpDir)})
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	e := ecrbaseline.NewEnforcer(stack, "Enforcer", &ecrbaseline.EnforcerProps{
		PolicyText: jsii.String(policies.Baseline), CodePath: jsii.String(code),
	})
	var tmpl assertions.Template
	cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(stack, nil) })
	template := cdktest.FromAssertions(t, tmpl)

	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, rule := range map[string]awsevents.Rule{repositoryRule: e.Rule, baselineRule: e.BaselineChangeRule} {
		pattern := marshal(t, template.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(rule))["EventPattern"])
		if err := q.AddPattern(name, pattern); err != nil {
			t.Fatalf("quamina rejects the pattern of %s %s: %v", name, pattern, err)
		}
	}

	samples, err := fs.Glob(events.FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range samples {
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := eventExpectations[name]
			if !ok {
				t.Fatalf("events/%s has no entry in eventExpectations: say which rule must match it", name)
			}
			event, err := fs.ReadFile(events.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			matches, err := q.MatchesForEvent(event)
			if err != nil {
				t.Fatalf("quamina cannot read events/%s: %v", name, err)
			}
			var got []string
			for _, m := range matches {
				got = append(got, fmt.Sprint(m))
			}
			wantRules := []string{}
			if want != noRule {
				wantRules = []string{want}
			}
			if d := cmp.Diff(wantRules, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("rules matching events/%s (-want +got):\n%s", name, d)
			}
		})
	}
	for name := range eventExpectations {
		if !seen[name] {
			t.Errorf("events/%s is expected but missing", name)
		}
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
