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

// synthesized is one stack of the app, built from cdk.json's context the
// way `cdk synth` builds it, and synthesized into outdir.
type synthesized struct {
	outdir      string
	name        string
	annotations assertions.Annotations
	tmpl        assertions.Template
	json        cdktest.Template
}

var (
	synthOnce sync.Once
	synth     *synthesized
	synthErr  error
)

// stack is the app's stack with cdk.json's context, synthesized once.
func stack(t *testing.T) *synthesized {
	t.Helper()
	synthOnce.Do(func() {
		var stacks []*synthesized
		stacks, synthErr = synthesizeApp(t, nil)
		if synthErr == nil {
			synth = stacks[0]
		}
	})
	if synthErr != nil {
		t.Fatalf("synthesize the app: %v", synthErr)
	}
	return synth
}

// organisationContext makes the app the hub of a whole organisation (its
// root) with a StackSet; the function is a stand-in (the build is tested
// above).
func organisationContext(t *testing.T) map[string]any {
	t.Helper()
	code, err := cdktest.DummyCode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"memberOrganizationalUnits": []any{"r-ab12"}, "organizationId": "o-abcdefghij",
		"memberRegions": []any{"eu-west-1", "us-east-1"}, "memberStackSet": "DELEGATED_ADMIN", "codePath": code,
	}
}

var (
	orgOnce   sync.Once
	orgStacks []*synthesized
	orgErr    error
)

// organisation is the app's hub and member stacks in organisation mode,
// synthesized once.
func organisation(t *testing.T) []*synthesized {
	t.Helper()
	orgOnce.Do(func() { orgStacks, orgErr = synthesizeApp(t, organisationContext(t)) })
	if orgErr != nil {
		t.Fatalf("synthesize the app in organisation mode: %v", orgErr)
	}
	return orgStacks
}

// synthesizeApp builds the app as main does, with cdk.json's context and
// then extra, and synthesizes its stacks: the hub, and the member stack
// in organisation mode.
func synthesizeApp(t *testing.T, extra map[string]any) (stacks []*synthesized, err error) {
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
	for k, v := range extra {
		context[k] = v
	}
	outdir, err := os.MkdirTemp(tmpDir, "cdk.out-")
	if err != nil {
		return nil, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &context})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return nil, err
	}
	hub := NewStack(app, StackName, &StackProps{Config: cfg})
	member := NewMemberStack(app, MemberStackName, cfg)
	for _, st := range []awscdk.Stack{hub, member} {
		if st == nil {
			continue
		}
		s := &synthesized{outdir: outdir, name: *st.StackName()}
		// Annotations_FromStack synthesizes (running the cdk-nag aspect);
		// Template_FromStack then reuses that synthesis.
		s.annotations = assertions.Annotations_FromStack(st)
		s.tmpl = assertions.Template_FromStack(st, nil)
		s.json = cdktest.FromAssertions(t, s.tmpl)
		stacks = append(stacks, s)
	}
	t.Logf("synthesized %d stacks in %s", len(stacks), time.Since(start).Round(time.Millisecond))
	return stacks, nil
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
	const topic = "arn:aws:sns:eu-west-1:123456789012:platform-alarms"
	for _, tc := range []struct {
		name    string
		context map[string]any
		want    func(*Config)
		wantErr string
	}{
		{"empty", nil, func(*Config) {}, ""},
		{"-c strings", map[string]any{"dryRun": "true", "cacheTTL": "90s", "parameterName": "/p/b", "kmsKeyArn": key, "policyFile": "p.json",
			"alarmTopicArn": topic},
			func(c *Config) {
				c.KMSKeyARN, c.PolicyFile, c.AlarmTopicARN = key, "p.json", topic
				c.Settings = map[string]string{"dryRun": "true", "cacheTTL": "90s", "parameterName": "/p/b"}
			}, ""},
		{"JSON bool", map[string]any{"dryRun": true}, func(c *Config) { c.Settings["dryRun"] = "true" }, ""},
		{"bad bool", map[string]any{"dryRun": "yes"}, nil, `context dryRun must be true or false, got "yes"`},
		{"bad duration", map[string]any{"cacheTTL": "5"}, nil, `context cacheTTL must be a duration such as 5m, got "5"`},
		{"number for a duration", map[string]any{"cacheTTL": 300.0}, nil, `context cacheTTL must be a duration such as 5m, got "300"`},
		{"alias ARN", map[string]any{"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/baseline"}, nil,
			`context kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias/baseline" is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)`},
		{"topic name for an ARN", map[string]any{"alarmTopicArn": "platform-alarms"}, nil,
			`context alarmTopicArn: "platform-alarms" is not the ARN of a standard SNS topic (arn:aws:sns:REGION:ACCOUNT:NAME)`},
		{"FIFO topic", map[string]any{"alarmTopicArn": topic + ".fifo"}, nil,
			`context alarmTopicArn: "` + topic + `.fifo" is not the ARN of a standard SNS topic (arn:aws:sns:REGION:ACCOUNT:NAME)`},
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
		{"member StackSet", map[string]any{"memberOrganizationalUnits": "ou-ab12-cdefgh34", "organizationId": "o-abcdefghij", "memberStackSet": "SELF"},
			func(c *Config) {
				c.MemberStackSet = "SELF"
				c.Settings = map[string]string{"memberOrganizationalUnits": "ou-ab12-cdefgh34", "organizationId": "o-abcdefghij"}
			}, ""},
		{"member StackSet, lower case", map[string]any{"memberOrganizationalUnits": "ou-ab12-cdefgh34", "memberStackSet": "self"}, nil,
			`context memberStackSet must be SELF (the hub runs in the management account), DELEGATED_ADMIN (in a delegated administrator of StackSets) or empty for no StackSet, got "self"`},
		{"member StackSet without OUs", map[string]any{"memberAccounts": []any{"111122223333"}, "memberStackSet": "DELEGATED_ADMIN"}, nil,
			"context memberStackSet needs memberOrganizationalUnits: a service-managed StackSet deploys to the accounts of OUs"},
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
	cfg.Settings = map[string]string{"exemptRepositories": "a/[b"}
	err := cdktest.Panic(t, func() { NewStack(app, StackName, &StackProps{Config: cfg}) })
	want := `ecr-baseline Enforcer: Settings["exemptRepositories"] must be comma-separated Go path.Match patterns, got "a/[b" in "a/[b": syntax error in pattern`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// TestAlarmTopicFromContext: with alarmTopicArn, every alarm of the stack
// notifies that topic when it fires and when it clears.
func TestAlarmTopicFromContext(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:123456789012:platform-alarms"
	code, err := cdktest.DummyCode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &map[string]any{
		"alarmTopicArn": topic, "codePath": code, "policyFile": filepath.Join(root, DefaultConfig().PolicyFile),
	}})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	var tmpl assertions.Template
	cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(NewStack(app, StackName, &StackProps{Config: cfg}), nil) })
	tm := cdktest.FromAssertions(t, tmpl)
	alarms := tm.LogicalIDs("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for _, id := range alarms {
		alarm := tm.Resource(t, "AWS::CloudWatch::Alarm", id)
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if d := cmp.Diff([]any{topic}, alarm[key]); d != "" {
				t.Errorf("%s %s (-want +got):\n%s", id, key, d)
			}
		}
	}
}

func TestMissingPolicyFileFailsSynth(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	cfg := DefaultConfig()
	cfg.PolicyFile = filepath.Join(t.TempDir(), "missing.json")
	err := cdktest.Panic(t, func() { NewStack(app, StackName, &StackProps{Config: cfg}) })
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read baseline policy: ") {
		t.Errorf("err = %v, want a wrapped not-exist error", err)
	}
}

// TestFunctionIsBuiltAtSynth: with cdk.json's empty codePath the app
// builds the function itself, so synth needs no `make build` first.
func TestFunctionIsBuiltAtSynth(t *testing.T) {
	s := stack(t)
	asset, hash, err := cdktest.FunctionAsset(s.outdir, StackName)
	if err != nil {
		t.Fatal(err)
	}
	cdktest.CheckLinuxARM64(t, filepath.Join(asset, "bootstrap"))
	fn := s.json.Resource(t, "AWS::Lambda::Function", s.json.LogicalIDs("AWS::Lambda::Function")[0])
	if key := fn["Code"].(map[string]any)["S3Key"]; key != hash+".zip" {
		t.Errorf("function code %v, want the built asset %s.zip", key, hash)
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

// TestOrganisationApp: in organisation mode the app synthesizes the member
// stack, and the hub's StackSet deploys that very template to the whole
// organisation, its root.
func TestOrganisationApp(t *testing.T) {
	org := organisation(t)
	if len(org) != 2 || org[0].name != StackName || org[1].name != MemberStackName {
		t.Fatalf("organisation mode synthesized %d stacks, want %s and %s", len(org), StackName, MemberStackName)
	}
	hub := org[0].json
	sets := hub.LogicalIDs("AWS::CloudFormation::StackSet")
	if len(sets) != 1 {
		t.Fatalf("StackSets %v, want one", sets)
	}
	set := hub.Resource(t, "AWS::CloudFormation::StackSet", sets[0])
	if d := cmp.Diff(map[string]any(org[1].json), cdktest.JSON(t, set["TemplateBody"].(string))); d != "" {
		t.Errorf("the StackSet deploys another template than the member stack (-member +StackSet):\n%s", d)
	}
	targets := set["StackInstancesGroup"]
	if d := cmp.Diff(cdktest.JSON(t, `[{"DeploymentTargets": {"OrganizationalUnitIds": ["r-ab12"]}, "Regions": ["eu-west-1", "us-east-1"]}]`), targets); d != "" {
		t.Errorf("StackSet targets (-want +got):\n%s", d)
	}
	if set["CallAs"] != "DELEGATED_ADMIN" {
		t.Errorf("StackSet CallAs %v, want context memberStackSet's DELEGATED_ADMIN", set["CallAs"])
	}
}

// TestSingleAccountAppHasNoMemberStack: without organisation settings the
// app is the one stack it always was.
func TestSingleAccountAppHasNoMemberStack(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	var member awscdk.Stack
	cdktest.Check(t, func() { member = NewMemberStack(app, MemberStackName, DefaultConfig()) })
	if member != nil {
		t.Errorf("NewMemberStack = %v; want no stack", member)
	}
	if sets := stack(t).json.LogicalIDs("AWS::CloudFormation::StackSet"); len(sets) != 0 {
		t.Errorf("StackSets %v in a single account's stack", sets)
	}
}

// The suppressions on the hub's role: ECR repositories and archive
// objects, and in organisation mode the member role in any account, the
// organisation's OUs and its root, DescribeOrganization's "*", and the
// repositories of the two member regions.
const (
	singleAccountRoleFindings = 2
	organisationRoleFindings  = 2 + 6
)

// nagCases are the templates cdk-nag and cfn-lint must pass, with the
// findings accepted with a reason in each.
func nagCases(t *testing.T) []struct {
	name       string
	s          *synthesized
	suppressed []string
} {
	hubSuppressions := func(roleFindings int) []string {
		var want []string
		for range roleFindings {
			want = append(want, "AwsSolutions-IAM5 "+StackName+"/Enforcer/Role/DefaultPolicy/Resource")
		}
		return append(want,
			"AwsSolutions-S1 "+StackName+"/Enforcer/Archive/Resource",
			"AwsSolutions-SQS3 "+StackName+"/Enforcer/FailureQueue/Resource",
			"AwsSolutions-SQS3 "+StackName+"/Enforcer/RuleDeadLetterQueue/Resource")
	}
	org := organisation(t)
	if len(org) != 2 {
		t.Fatalf("organisation mode synthesized %d stacks, want the hub and the member stack", len(org))
	}
	return []struct {
		name       string
		s          *synthesized
		suppressed []string
	}{
		{"single account", stack(t), hubSuppressions(singleAccountRoleFindings)},
		{"organisation hub", org[0], hubSuppressions(organisationRoleFindings)},
		// The member role's repositories, in every region.
		{"member", org[1], []string{"AwsSolutions-IAM5 " + MemberStackName + "/MemberRole"}},
	}
}

// TestCDKNag checks that the AwsSolutions pack ran on each stack and left
// no error or warning, and that the findings accepted with a reason are
// exactly these.
func TestCDKNag(t *testing.T) {
	for _, tc := range nagCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			assertNag(t, tc.s, tc.suppressed)
		})
	}
}

func assertNag(t *testing.T, s *synthesized, want []string) {
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
	f, err := os.Open(filepath.Join(s.outdir, "AwsSolutions-"+s.name+"-NagReport.csv"))
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
	// The assertions synthesize the app once for each stack's
	// annotations, and each synthesis appends the pack's findings to the
	// report again: identical rows are one finding.
	seen := map[string]bool{}
	for _, r := range rows[1:] { // Rule ID, Resource ID, Compliance, Exception Reason, ...
		if row := strings.Join(r, "\x00"); seen[row] {
			continue
		} else {
			seen[row] = true
		}
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
	if d := cmp.Diff(want, suppressed); d != "" {
		t.Errorf("suppressed findings (-want +got):\n%s", d)
	}
	t.Logf("cdk-nag AwsSolutions: %d compliant, %d suppressed, 0 errors, 0 warnings", compliant, len(suppressed))
}

// TestCFNLint runs the project's pinned cfn-lint on each synthesized
// template: any error, warning or informational finding fails.
func TestCFNLint(t *testing.T) {
	lint := filepath.Join(root, ".venv", "bin", "cfn-lint")
	if _, err := os.Stat(lint); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is missing from .venv (make tools installs it): %v", err)
		}
		t.Skipf("cfn-lint not installed (run make tools): %v", err)
	}
	for _, tc := range nagCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			template := filepath.Join(tc.s.outdir, tc.s.name+".template.json")
			start := time.Now()
			out, err := exec.Command(lint, template).CombinedOutput()
			if err != nil {
				t.Fatalf("cfn-lint %s: %v\n%s", template, err, out)
			}
			st, err := os.Stat(template)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("cfn-lint: no findings (%s); template %d bytes", time.Since(start).Round(time.Millisecond), st.Size())
		})
	}
}
