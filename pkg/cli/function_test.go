package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/outputs"
	"github.com/ecr-baseline/ecr-baseline/pkg/restore"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// deployed is the environment the stack gives the function, in merge mode
// with an exemption, a parameter and an archive of its own: what a CLI run
// with the defaults would get wrong.
var deployed = map[string]string{
	"BASELINE_PARAMETER_NAME": "/team/baseline", "ENFORCEMENT_MODE": "merge", "EXEMPT_REPOSITORIES": "legacy-*",
	"ARCHIVE_BUCKET": "fn-archive", "DRY_RUN": "false", "BACKFILL_CONCURRENCY": "4", "BASELINE_CACHE_TTL": "5m",
	"SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/enforcer",
}

// functionSettings is what a run with --function enforcer prints first.
const functionSettings = `settings:
  --parameter           "/team/baseline"                           function enforcer
  BASELINE_CACHE_TTL    "5m0s"                                     function enforcer
  --dry-run             "false"                                    function enforcer
  --mode                "merge"                                    function enforcer
  --force               "false"                                    default
  --exempt-tag          ""                                         default
  --exempt              "legacy-*"                                 function enforcer
  --read-tps            ""                                         default
  --write-tps           ""                                         default
  --concurrency         "4"                                        function enforcer
  --allowed-principals  ""                                         default
  --allow-public        "false"                                    default
  --archive-bucket      "fn-archive"                               function enforcer
  SELF_ROLE_ARN         "arn:aws:iam::123456789012:role/enforcer"  function enforcer
`

// TestFunctionSettingsOnMoto runs backfill, check and restore with the
// settings of a function moto holds (GetFunctionConfiguration): the
// function's merge mode keeps a team's statement that the CLI's default,
// replace, would remove; the shell's variables are not read; a flag still
// overrides; restore takes the exemptions from the function and refuses
// flags that would say otherwise.
func TestFunctionSettingsOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	f := fleet.New(cfg, policies.Baseline)
	if err := f.Seed(ctx, fleet.Repo{Name: "team/app", Policy: teamPolicy}, fleet.Repo{Name: "legacy-api", Policy: teamPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/team/baseline"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	if err := moto.VersionedBucket(ctx, moto.S3(cfg), "fn-archive"); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"ENFORCEMENT_MODE": "append"}
	for name, env := range map[string]map[string]string{"enforcer": deployed, "misconfigured": bad} {
		if err := server.Function(ctx, cfg, name, env); err != nil {
			t.Fatal(err)
		}
	}
	// The stack the function was deployed with, as --stack finds it: the
	// construct's output beside another construct's of the same name.
	stack := `{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": {
		"AppFunctionName": {"Value": "app", "Description": "not ours"},
		"EnforcerFunctionName": {"Value": "enforcer", "Description": "` + outputs.DescriptionPrefix + `the enforcer Lambda"}}}`
	if _, err := cloudformation.NewFromConfig(cfg).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("EcrBaseline"), TemplateBody: aws.String(stack),
	}); err != nil {
		t.Fatal(err)
	}
	shell := map[string]string{"ECR_BASELINE_MODE": "replace", "ECR_BASELINE_EXEMPT": "", "ECR_BASELINE_ARCHIVE_BUCKET": "elsewhere"}
	run := func(args ...string) (int, string, string) { return runWith(ctx, lookup, shell, args...) }

	// The first backfill writes, in the function's mode, to its archive.
	code, out, errOut := run("backfill", "--function", "enforcer", "--quiet", "--output", "json")
	if code != ExitOK || !strings.HasPrefix(errOut, functionSettings) {
		t.Fatalf("backfill --function: exit %d\nstderr:\n%s\nwant it to start with:\n%s", code, errOut, functionSettings)
	}
	rep := decodeReport[enforcer.Result, backfill.Summary](t, out)
	if diff := cmp.Diff(map[string]string{
		"team/app":   "applied: added BaselineAllowAccountPull, BaselineDenyInsecureTransport",
		"legacy-api": "exempt: no change",
	}, diffs(rep)); diff != "" {
		t.Errorf("backfill --function results (-want +got):\n%s", diff)
	}
	for _, r := range rep.Results {
		if r.Action == enforcer.Applied && r.Archive == "" {
			t.Errorf("%s written without an archive record", r.Repository)
		}
	}
	held, err := f.Policy(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(held, `"TeamPull"`) {
		t.Errorf("team/app lost the team's statement: merge mode was not the function's\n%s", held)
	}

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		want      []string // lines of stdout
		wantInErr string   // stderr holds it
	}{
		{"the function's settings: compliant", []string{"check", "--function", "enforcer"}, ExitOK,
			[]string{"team/app    unchanged        ", "scanned 2: applied 0, would apply 0, unchanged 1, skipped 0, exempt 1, failed 0"},
			`--mode                "merge"                                    function enforcer`},
		{"the stack's function", []string{"check", "--stack", "EcrBaseline"}, ExitOK,
			[]string{"team/app    unchanged        "},
			`--mode                "merge"                                    function enforcer`},
		{"a stack the region does not hold", []string{"check", "--stack", "nope"}, ExitUsage, nil,
			"--stack nope: operation error CloudFormation: DescribeStacks"},
		{"a stack and a function", []string{"check", "--stack", "EcrBaseline", "--function", "enforcer"}, ExitUsage, nil,
			"--stack and --function both given: --stack finds the function, give one\n"},
		{"a flag overrides the function", []string{"check", "--function", "enforcer", "--mode", "replace"}, ExitChanges,
			[]string{"team/app    would-apply  removed TeamPull  policy differs from baseline"},
			`--mode                "replace"                                  flag`},
		{"a function the region does not hold", []string{"check", "--function", "nope"}, ExitUsage, nil,
			"--function nope: operation error Lambda: GetFunctionConfiguration"},
		{"a function the function itself would refuse", []string{"check", "--function", "misconfigured"}, ExitUsage, nil,
			"--function misconfigured: ENFORCEMENT_MODE of function misconfigured must be replace or merge, got \"append\"\n"},
		{"restore: not exempt by the function, refused", []string{"restore", "--function", "enforcer", "--repository", "team/app"}, ExitFailed,
			[]string{"scanned 1: restored 0, would restore 0, unchanged 0, skipped 0, refused 1, failed 0"}, ""},
		{"restore: the function's exemptions, not a flag's", []string{"restore", "--function", "enforcer", "--repository", "team/app", "--exempt", "team/*"}, ExitUsage, nil,
			"--exempt and --function (or --stack) both given: restore takes the exemptions and dry-run from the function, which decides whether a restored policy stays\n"},
		{"restore: nor the flag's dry-run", []string{"restore", "--function", "enforcer", "--repository", "team/app", "--enforcer-dry-run"}, ExitUsage, nil,
			"--enforcer-dry-run and --function (or --stack) both given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(append(tt.args, "--quiet")...)
			checkRun(t, code, out, errOut, tt.wantCode, tt.want)
			if !strings.Contains(errOut, tt.wantInErr) {
				t.Errorf("stderr:\n%s\nwant it to hold:\n%s", errOut, tt.wantInErr)
			}
		})
	}

	interrupted, cancel := context.WithCancel(ctx)
	cancel()
	if code, _, errOut := runWith(interrupted, lookup, nil, "check", "--function", "enforcer", "--quiet"); code != ExitIncomplete ||
		errOut != "interrupted before any repository: nothing enforced\n" {
		t.Errorf("interrupted while reading the function: exit %d, want %d\n%s", code, ExitIncomplete, errOut)
	}

	// legacy-api is exempt in the function: once a backfill that ignored
	// the exemption wrote it, restore puts it back with the function's
	// settings, read from the function's archive.
	if code, out, errOut := run("backfill", "--function", "enforcer", "--exempt=", "--prefix", "legacy-", "--quiet"); code != ExitOK || !strings.Contains(out, "applied 1,") {
		t.Fatalf("backfill --exempt=: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run("restore", "--function", "enforcer", "--repository", "legacy-api", "--quiet", "--output", "json")
	if code != ExitOK {
		t.Fatalf("restore --function: exit %d\n%s\n%s", code, out, errOut)
	}
	restored := decodeReport[restore.Result, restore.Summary](t, out)
	if restored.Summary == nil || restored.Summary.Restored != 1 || settingFrom(restored.Settings, "archive-bucket") != "fn-archive from function enforcer" {
		t.Errorf("restore --function report: %+v", restored)
	}
	if held, err := f.Policy(ctx, "legacy-api"); err != nil || held != teamPolicy {
		t.Errorf("legacy-api holds %s (%v) after restore, want the team's policy", held, err)
	}
}
