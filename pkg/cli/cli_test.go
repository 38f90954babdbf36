package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

// freshMoto resets moto and points both the command's lookup and the
// process's own AWS configuration (awsconfig.Load reads the real
// environment) at it.
func freshMoto(t *testing.T) (aws.Config, func(string) (string, bool)) {
	t.Helper()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range server.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		t.Setenv(k, v)
	}
	return cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// defaultSettings is what the command prints first when nothing is set.
const defaultSettings = `settings:
  --parameter           "/ecr-baseline/baseline-policy"  default
  --dry-run             "false"                          default
  --mode                "replace"                        default
  --force               "false"                          default
  --exempt-tag          ""                               default
  --exempt              ""                               default
  --read-tps            ""                               default
  --write-tps           ""                               default
  --concurrency         "8"                              default
  --allowed-principals  ""                               default
  --allow-public        "false"                          default
  --archive-bucket      ""                               default
`

func TestBackfillCommandOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	ecrClient := ecr.NewFromConfig(cfg)
	for _, name := range []string{"app/one", "app/two", "lib/three"} {
		if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}

	run := func(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
		return runWith(ctx, lookup, env, args...)
	}

	// No baseline parameter yet: the run stops before any repository,
	// exit code 1.
	code, out, errOut := run(ctx, nil, "backfill", "--quiet", "--no-archive")
	want := defaultSettings + "backfill: nothing enforced: load baseline /ecr-baseline/baseline-policy: baseline parameter not found\n"
	if code != ExitFailed || out != "" || errOut != want {
		t.Fatalf("without a baseline: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stderr %q and no table", code, out, errOut, want)
	}

	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/baseline-policy"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	interrupted, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		env        map[string]string
		args       []string
		wantCode   int
		want       []string // lines of stdout
		wantStderr string
	}{
		{"dry run", ctx, nil, []string{"backfill", "--dry-run", "--quiet"}, ExitOK, []string{
			"REPOSITORY  RESULT       DIFF                                                           REASON",
			"app/one     would-apply  added BaselineAllowAccountPull, BaselineDenyInsecureTransport  repository had no policy",
			"lib/three   would-apply  added BaselineAllowAccountPull, BaselineDenyInsecureTransport  repository had no policy",
			"scanned 3: applied 0, would apply 3, unchanged 0, skipped 0, exempt 0, failed 0"},
			strings.Replace(defaultSettings, `--dry-run             "false"                          default`, `--dry-run             "true"                           flag`, 1)},
		{"the shell's DRY_RUN and FORCE are not the command's", ctx, map[string]string{"DRY_RUN": "true", "FORCE": "true"},
			[]string{"backfill", "--prefix", "app/", "--quiet", "--no-archive"}, ExitOK, []string{
				"app/one     applied  added BaselineAllowAccountPull, BaselineDenyInsecureTransport  repository had no policy",
				"scanned 2: applied 2, would apply 0, unchanged 0, skipped 0, exempt 0, failed 0"}, defaultSettings},
		{"settings from the environment", ctx, map[string]string{"ECR_BASELINE_DRY_RUN": "true", "ECR_BASELINE_EXEMPT": "lib/*"},
			[]string{"backfill", "--quiet", "--mode", "merge"}, ExitOK, []string{
				"app/one     unchanged        ",
				"lib/three   exempt           name matches exemption pattern \"lib/*\"",
				"scanned 3: applied 0, would apply 0, unchanged 2, skipped 0, exempt 1, failed 0"},
			strings.NewReplacer(
				`--dry-run             "false"                          default`, `--dry-run             "true"                           environment ECR_BASELINE_DRY_RUN`,
				`--mode                "replace"                        default`, `--mode                "merge"                          flag`,
				`--exempt              ""                               default`, `--exempt              "lib/*"                          environment ECR_BASELINE_EXEMPT`,
			).Replace(defaultSettings)},
		{"a flag error names the flag", ctx, nil, []string{"backfill", "--concurrency", "0"}, ExitUsage, nil,
			"--concurrency must be a positive whole number, got \"0\"\n"},
		{"an environment error names the variable", ctx, map[string]string{"ECR_BASELINE_CONCURRENCY": "many"}, []string{"backfill"}, ExitUsage, nil,
			"ECR_BASELINE_CONCURRENCY must be a positive whole number, got \"many\"\n"},
		{"a rate that would hang", ctx, nil, []string{"backfill", "--read-tps", "1e-300", "--write-tps", "0"}, ExitUsage, nil,
			"--read-tps must be a number of calls per second from 0.1 to 10000, got \"1e-300\"\n" +
				"--write-tps must be a number of calls per second from 0.1 to 10000, got \"0\"\n"},
		{"unknown mode", ctx, nil, []string{"backfill", "--mode", "append"}, ExitUsage, nil, "--mode must be replace or merge, got \"append\"\n"},
		{"a write without an archive", ctx, nil, []string{"backfill", "--quiet"}, ExitUsage, nil,
			"backfill writes: give --archive-bucket (or ECR_BASELINE_ARCHIVE_BUCKET), or --function or --stack to use the function's, to archive each policy it replaces, or --no-archive to write without\n"},
		{"an archive and none", ctx, map[string]string{"ECR_BASELINE_ARCHIVE_BUCKET": "b"}, []string{"backfill", "--no-archive"}, ExitUsage, nil,
			"--no-archive and --archive-bucket both given: choose one\n"},
		{"invalid token", ctx, nil, []string{"backfill", "--quiet", "--no-archive", "--token", "not-a-token!"}, ExitUsage, nil,
			defaultSettings + "--token: invalid continuation token: \"not-a-token!\"\n"},
		{"interrupted while loading the baseline", interrupted, nil, []string{"backfill", "--quiet", "--no-archive"}, ExitIncomplete, nil,
			defaultSettings + "interrupted before any repository: nothing enforced\n"},
		{"not a command", ctx, nil, []string{"sync"}, ExitUsage, nil, "ecr-baseline: unknown command \"sync\"\n\n" + usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(tt.ctx, tt.env, tt.args...)
			checkRun(t, code, out, errOut, tt.wantCode, tt.want)
			if errOut != tt.wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut, tt.wantStderr)
			}
		})
	}
}

// runWith runs the command with env over lookup's environment and returns
// its exit code, stdout and stderr.
func runWith(ctx context.Context, lookup func(string) (string, bool), env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Run(ctx, args, &out, &errOut, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return lookup(k)
	})
	return code, out.String(), errOut.String()
}

// writeFile writes text to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkRun checks a command's exit code and that stdout holds each wanted
// line, or nothing when want is nil.
func checkRun(t *testing.T, code int, out, errOut string, wantCode int, want []string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("output lacks line %q:\n%s", w, out)
		}
	}
	if want == nil && out != "" {
		t.Errorf("stdout %q, want none", out)
	}
}

// TestInterruptedRunResumes interrupts a run after five repositories, as
// Ctrl-C would (main cancels the context), and resumes it with the token
// it printed: the first run exits ExitIncomplete, the second completes,
// and every repository ends with the baseline.
func TestInterruptedRunResumes(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	f := fleet.New(cfg, policies.Baseline)
	var repos []fleet.Repo
	var names []string
	for i := range 30 {
		name := fmt.Sprintf("paced/r-%02d", i)
		repos = append(repos, fleet.Repo{Name: name})
		names = append(names, name)
	}
	if err := f.Seed(ctx, repos...); err != nil {
		t.Fatal(err)
	}

	interrupted, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, errOut bytes.Buffer
	results := 0
	// At most five results plus the eight in flight have started when the
	// interrupt comes, so the run cannot have reached all 30.
	c := command{stdout: &out, stderr: &errOut, lookup: lookup, onResult: func(enforcer.Result) {
		if results++; results == 5 {
			cancel()
		}
	}}
	if err := moto.VersionedBucket(ctx, moto.S3(cfg), "cli-archive"); err != nil {
		t.Fatal(err)
	}
	if code := c.run(interrupted, []string{"backfill", "--quiet", "--read-tps", "1000", "--archive-bucket", "cli-archive"}); code != ExitIncomplete {
		t.Fatalf("interrupted run: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitIncomplete, out.String(), errOut.String())
	}
	_, token, ok := strings.Cut(strings.TrimSpace(errOut.String()), "resume with --token ")
	if !ok || token == "" {
		t.Fatalf("no token in stderr:\n%s", errOut.String())
	}

	out.Reset()
	errOut.Reset()
	if code := Run(ctx, []string{"backfill", "--quiet", "--read-tps", "1000", "--archive-bucket", "cli-archive", "--token", token}, &out, &errOut, lookup); code != ExitOK {
		t.Fatalf("resumed run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	held, err := f.ReadBack(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !held[name].Compliant {
			t.Errorf("%s holds %q after the resumed run", name, held[name].Policy)
		}
	}
}
