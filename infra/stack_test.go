package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"quamina.net/go/quamina"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var (
	root   string // the module root
	tmpDir string
)

func TestMain(m *testing.M) {
	cdktest.Main(m, func(dir string) (err error) {
		tmpDir = dir
		root, err = cdktest.ModuleRoot()
		return err
	})
}

// cdkJSON is the part of cdk.json the tests read.
type cdkJSON struct {
	App     string         `json:"app"`
	Context map[string]any `json:"context"`
}

func readCDKJSON(t *testing.T) cdkJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c cdkJSON
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return c
}

// synthesized is the app's stack, built once from cdk.json's context the
// way `cdk synth` builds it, and synthesized into outdir.
type synthesized struct {
	outdir      string
	annotations assertions.Annotations
	tmpl        assertions.Template
	json        cdktest.Template
	elapsed     time.Duration
}

var (
	synthOnce sync.Once
	synth     *synthesized
	synthErr  error
)

func stack(t *testing.T) *synthesized {
	t.Helper()
	synthOnce.Do(func() { synth, synthErr = synthesizeApp(t) })
	if synthErr != nil {
		t.Fatalf("synthesize the app: %v", synthErr)
	}
	return synth
}

func synthesizeApp(t *testing.T) (s *synthesized, err error) {
	// A failed jsii call panics; report it as this synthesis' error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	start := time.Now()
	context := readCDKJSON(t).Context
	// Tests run in infra/, cdk in the module root.
	context["policyFile"] = filepath.Join(root, fmt.Sprint(context["policyFile"]))
	code := filepath.Join(root, fmt.Sprint(context["codePath"]))
	if _, err := os.Stat(filepath.Join(code, "bootstrap")); err != nil {
		// `make test` builds first; plain `go test` may run before any build.
		if code, err = cdktest.DummyCode(tmpDir); err != nil {
			return nil, err
		}
	}
	context["codePath"] = code

	s = &synthesized{outdir: filepath.Join(tmpDir, "cdk.out")}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(s.outdir), Context: &context})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return nil, err
	}
	stack, err := NewStack(app, StackName, &StackProps{Config: cfg})
	if err != nil {
		return nil, err
	}
	// Annotations_FromStack synthesizes (running the cdk-nag aspect);
	// Template_FromStack then reuses that synthesis.
	s.annotations = assertions.Annotations_FromStack(stack)
	s.tmpl = assertions.Template_FromStack(stack, nil)
	s.json = cdktest.FromAssertions(t, s.tmpl)
	s.elapsed = time.Since(start)
	t.Logf("synthesized %s in %s", StackName, s.elapsed.Round(time.Millisecond))
	return s, nil
}

func TestCDKJSONRunsTheAppWithItsDefaults(t *testing.T) {
	c := readCDKJSON(t)
	if c.App != "go run ./infra" {
		t.Errorf(`cdk.json app = %q, want "go run ./infra"`, c.App)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &c.Context})
	got, err := ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	// The context block documents every setting and its default: it must
	// list them all and change none.
	for _, s := range envconfig.Settings {
		if _, ok := got.Settings[s.Context]; s.Context != "" && !ok {
			t.Errorf("cdk.json context lacks %s", s.Context)
		}
	}
	settings, _, err := envconfig.Resolve(func(s *envconfig.Setting) (string, string, bool) {
		v, ok := got.Settings[s.Context]
		return v, s.Context, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(envconfig.Defaults(), settings); d != "" {
		t.Errorf("cdk.json context differs from the defaults (-default +cdk.json):\n%s", d)
	}
	got.Settings = map[string]string{}
	if d := cmp.Diff(DefaultConfig(), got); d != "" {
		t.Errorf("cdk.json context differs from DefaultConfig (-default +cdk.json):\n%s", d)
	}
}

func TestConfigFromContext(t *testing.T) {
	const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		name    string
		context map[string]any
		want    func(*Config)
		wantErr string
	}{
		{"empty", nil, func(*Config) {}, ""},
		{"-c strings", map[string]any{"dryRun": "true", "cacheTTL": "90s", "parameterName": "/p/b", "kmsKeyArn": key, "policyFile": "p.json"},
			func(c *Config) {
				c.KMSKeyARN, c.PolicyFile = key, "p.json"
				c.Settings = map[string]string{"dryRun": "true", "cacheTTL": "90s", "parameterName": "/p/b"}
			}, ""},
		{"JSON bool", map[string]any{"dryRun": true}, func(c *Config) { c.Settings["dryRun"] = "true" }, ""},
		{"bad bool", map[string]any{"dryRun": "yes"}, nil, `context dryRun must be true or false, got "yes"`},
		{"bad duration", map[string]any{"cacheTTL": "5"}, nil, `context cacheTTL must be a duration such as 5m, got "5"`},
		{"number for a duration", map[string]any{"cacheTTL": 300.0}, nil, `context cacheTTL must be a duration such as 5m, got "300"`},
		{"alias ARN", map[string]any{"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/baseline"}, nil,
			`context kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias/baseline" is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)`},
		{"options as -c strings", map[string]any{
			"enforcementMode": "merge", "force": "true", "exemptTag": "", "exemptRepositories": "sandbox/*, legacy-*",
			"readTps": "2.5", "writeTps": "1", "backfillConcurrency": "3",
		}, func(c *Config) {
			c.Settings = map[string]string{"enforcementMode": "merge", "force": "true", "exemptTag": "", "exemptRepositories": "sandbox/*, legacy-*",
				"readTps": "2.5", "writeTps": "1", "backfillConcurrency": "3"}
		}, ""},
		{"options as JSON", map[string]any{
			"force": true, "exemptTag": "team:exempt=yes", "exemptRepositories": []any{"a/*", "c"},
			"readTps": 40.0, "writeTps": 0.5, "backfillConcurrency": 16.0,
		}, func(c *Config) {
			c.Settings = map[string]string{"force": "true", "exemptTag": "team:exempt=yes", "exemptRepositories": "a/*,c",
				"readTps": "40", "writeTps": "0.5", "backfillConcurrency": "16"}
		}, ""},
		{"no patterns", map[string]any{"exemptRepositories": []any{}}, func(c *Config) { c.Settings["exemptRepositories"] = "" }, ""},
		{"bad force", map[string]any{"force": "on"}, nil, `context force must be true or false, got "on"`},
		{"zero TPS", map[string]any{"readTps": "0"}, nil, `context readTps must be a number of calls per second from 0.1 to 10000, got "0"`},
		{"negative JSON TPS", map[string]any{"writeTps": -1.0}, nil, `context writeTps must be a number of calls per second from 0.1 to 10000, got "-1"`},
		{"NaN TPS", map[string]any{"readTps": "NaN"}, nil, `context readTps must be a number of calls per second from 0.1 to 10000, got "NaN"`},
		{"TPS a bool", map[string]any{"readTps": true}, nil, `context readTps must be a number of calls per second from 0.1 to 10000, got "true"`},
		{"fractional concurrency", map[string]any{"backfillConcurrency": 2.5}, nil, `context backfillConcurrency must be a positive whole number, got "2.5"`},
		{"unknown mode", map[string]any{"enforcementMode": "Merge"}, nil, `context enforcementMode must be replace or merge, got "Merge"`},
		{"bad exempt tag", map[string]any{"exemptTag": "exempt"}, nil, `context exemptTag must be key=value (or empty to turn it off), got "exempt"`},
		{"pattern with a comma", map[string]any{"exemptRepositories": []any{"a,b", "c"}}, nil,
			`context exemptRepositories: item 0: "a,b" holds a comma, which separates items`},
		{"pattern not a string", map[string]any{"exemptRepositories": []any{"a", 1.0}}, nil, "context exemptRepositories: item 1: want a string, got float64"},
		{"patterns an object", map[string]any{"exemptRepositories": map[string]any{}}, nil,
			"context exemptRepositories: want a string, number, boolean or list of strings, got map[string]interface {}"},
		{"two bad settings", map[string]any{"readTps": "0", "dryRun": "maybe"}, nil,
			"context dryRun must be true or false, got \"maybe\"\ncontext readTps must be a number of calls per second from 0.1 to 10000, got \"0\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &tc.context})
			got, err := ConfigFromContext(app.Node())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestBadSettingsFailSynth: a stack given settings without the context
// (NewStack called directly) is refused by the construct with the same
// parser.
func TestBadSettingsFailSynth(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	cfg := DefaultConfig()
	cfg.PolicyFile = filepath.Join(root, cfg.PolicyFile)
	cfg.CodePath = filepath.Join(root, cfg.CodePath)
	if _, err := os.Stat(filepath.Join(cfg.CodePath, "bootstrap")); err != nil {
		if cfg.CodePath, err = cdktest.DummyCode(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Settings = map[string]string{"exemptRepositories": "a/[b"}
	_, err := NewStack(app, StackName, &StackProps{Config: cfg})
	want := `ecr-baseline Enforcer: Settings["exemptRepositories"] must be comma-separated Go path.Match patterns, got "a/[b" in "a/[b"`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestMissingPolicyFileFailsSynth(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	cfg := DefaultConfig()
	cfg.PolicyFile = filepath.Join(t.TempDir(), "missing.json")
	_, err := NewStack(app, StackName, &StackProps{Config: cfg})
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read baseline policy: ") {
		t.Errorf("err = %v, want a wrapped not-exist error", err)
	}
}

func TestOutputs(t *testing.T) {
	s := stack(t)
	ids := map[string]string{}
	for _, typ := range []string{"AWS::Lambda::Function", "AWS::SSM::Parameter", "AWS::S3::Bucket"} {
		ids[typ] = s.json.LogicalIDs(typ)[0]
	}
	queues := s.json.LogicalIDs("AWS::SQS::Queue")
	sort.Slice(queues, func(i, j int) bool { return strings.Contains(queues[i], "Rule") })
	want := cdktest.JSON(t, fmt.Sprintf(`{
		"FunctionName": {"Description": "the enforcer Lambda", "Value": {"Ref": %q}},
		"ParameterName": {"Description": "the SSM parameter holding the baseline policy template", "Value": {"Ref": %q}},
		"RuleDeadLetterQueueUrl": {"Description": "events EventBridge could not deliver to the function", "Value": {"Ref": %q}},
		"FailureQueueUrl": {"Description": "events the function failed on after its retries", "Value": {"Ref": %q}},
		"ArchiveBucketName": {"Description": "the S3 bucket of archived repository policies, which restore reads", "Value": {"Ref": %q}}
	}`, ids["AWS::Lambda::Function"], ids["AWS::SSM::Parameter"], queues[0], queues[1], ids["AWS::S3::Bucket"]))
	if d := cmp.Diff(want, s.json["Outputs"]); d != "" {
		t.Errorf("Outputs (-want +got):\n%s", d)
	}
}

func TestStackDeploysTheShippedBaseline(t *testing.T) {
	s := stack(t)
	p := s.json.Resource(t, "AWS::SSM::Parameter", s.json.LogicalIDs("AWS::SSM::Parameter")[0])
	if p["Value"] != policies.Baseline {
		t.Errorf("parameter value is not policies/baseline.json:\n%v", p["Value"])
	}
	if p["Tier"] != "Standard" || p["Name"] != "/ecr-baseline/baseline-policy" {
		t.Errorf("parameter tier/name = %v/%v, want Standard and the default name", p["Tier"], p["Name"])
	}
	t.Logf("%d resources", len(s.json["Resources"].(map[string]any)))
}

// TestCDKNag checks that the AwsSolutions pack ran and left no error or
// warning, and that the findings accepted with a reason are exactly these.
func TestCDKNag(t *testing.T) {
	s := stack(t)
	for level, find := range map[string]func(*string, interface{}) *[]*cxapi.SynthesisMessage{
		"error":   s.annotations.FindError,
		"warning": s.annotations.FindWarning,
	} {
		var found *[]*cxapi.SynthesisMessage
		cdktest.Check(t, func() {
			found = find(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		})
		for _, m := range *found {
			t.Errorf("cdk-nag %s at %s: %v", level, *m.Id, m.Entry.Data)
		}
	}

	// The report proves the pack ran: zero errors from a pack that never
	// ran would prove nothing.
	f, err := os.Open(filepath.Join(s.outdir, "AwsSolutions-"+StackName+"-NagReport.csv"))
	if err != nil {
		t.Fatalf("cdk-nag report: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("cdk-nag report: %v", err)
	}
	var suppressed []string
	compliant := 0
	for _, r := range rows[1:] { // Rule ID, Resource ID, Compliance, Exception Reason, ...
		switch r[2] {
		case "Compliant":
			compliant++
		case "Suppressed":
			suppressed = append(suppressed, r[0]+" "+r[1])
			if len(r[3]) < 80 {
				t.Errorf("suppression %s on %s has a thin reason: %q", r[0], r[1], r[3])
			}
		default:
			t.Errorf("cdk-nag %s on %s: %s", r[0], r[1], r[2])
		}
	}
	if compliant == 0 {
		t.Error("cdk-nag report has no compliant row: did the pack run?")
	}
	sort.Strings(suppressed)
	want := []string{
		// Two findings: ECR repositories and archive objects.
		"AwsSolutions-IAM5 " + StackName + "/Enforcer/Role/DefaultPolicy/Resource",
		"AwsSolutions-IAM5 " + StackName + "/Enforcer/Role/DefaultPolicy/Resource",
		"AwsSolutions-S1 " + StackName + "/Enforcer/Archive/Resource",
		"AwsSolutions-SQS3 " + StackName + "/Enforcer/FailureQueue/Resource",
		"AwsSolutions-SQS3 " + StackName + "/Enforcer/RuleDeadLetterQueue/Resource",
	}
	if d := cmp.Diff(want, suppressed); d != "" {
		t.Errorf("suppressed findings (-want +got):\n%s", d)
	}
	t.Logf("cdk-nag AwsSolutions: %d compliant, %d suppressed, 0 errors, 0 warnings", compliant, len(suppressed))
}

// TestCFNLint runs the project's pinned cfn-lint on the synthesized
// template: any error, warning or informational finding fails.
func TestCFNLint(t *testing.T) {
	s := stack(t)
	lint := filepath.Join(root, ".venv", "bin", "cfn-lint")
	if _, err := os.Stat(lint); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is missing from .venv (make tools installs it): %v", err)
		}
		t.Skipf("cfn-lint not installed (run make tools): %v", err)
	}
	template := filepath.Join(s.outdir, StackName+".template.json")
	start := time.Now()
	out, err := exec.Command(lint, template).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", template, err, out)
	}
	t.Logf("cfn-lint: no findings (%s)", time.Since(start).Round(time.Millisecond))
}

// The stack's rules, by the id of their construct in the Enforcer.
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

// TestEventPatternMatchesSamples feeds every events/ sample to quamina, a
// Go implementation of EventBridge pattern matching, loaded with the
// patterns of both rules exactly as they stand in the synthesized
// template. (moto, the project's other AWS stand-in, does not implement
// TestEventPattern.)
func TestEventPatternMatchesSamples(t *testing.T) {
	s := stack(t)
	// The schedule rule matches no events: only the two with a pattern.
	var rules []string
	for _, id := range s.json.LogicalIDs("AWS::Events::Rule") {
		if s.json.Resource(t, "AWS::Events::Rule", id)["EventPattern"] != nil {
			rules = append(rules, id)
		}
	}
	if len(rules) != 2 {
		t.Fatalf("rules with a pattern: %v, want two", rules)
	}
	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range rules {
		name := noRule
		for _, r := range []string{repositoryRule, baselineRule} {
			if strings.HasPrefix(id, "Enforcer"+r) {
				name = r
			}
		}
		if name == noRule {
			t.Fatalf("rule %s is neither %s nor %s", id, repositoryRule, baselineRule)
		}
		pattern, err := json.Marshal(s.json.Resource(t, "AWS::Events::Rule", id)["EventPattern"])
		if err != nil {
			t.Fatal(err)
		}
		if err := q.AddPattern(name, string(pattern)); err != nil {
			t.Fatalf("quamina rejects the pattern of %s %s: %v", name, pattern, err)
		}
	}

	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := eventExpectations[name]
			if !ok {
				t.Fatalf("events/%s has no entry in eventExpectations: say which rule must match it", name)
			}
			event, err := os.ReadFile(file)
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
