package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
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

func TestBackfillCommandOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	ecrClient := ecr.NewFromConfig(cfg)
	for _, name := range []string{"app/one", "app/two", "lib/three"} {
		if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Run(ctx, args, &out, &errOut, lookup)
		return code, out.String(), errOut.String()
	}

	// No baseline parameter yet: the run stops before any repository,
	// exit code 1.
	code, out, errOut := run("backfill", "--quiet")
	want := "backfill: nothing enforced: load baseline /ecr-baseline/baseline-policy: baseline parameter not found\n"
	if code != ExitFailed || out != "" || errOut != want {
		t.Fatalf("without a baseline: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stderr %q and no table", code, out, errOut, want)
	}

	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/baseline-policy"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		wantCode int
		want     []string
	}{
		{[]string{"backfill", "--dry-run", "--quiet"}, ExitOK, []string{
			"REPOSITORY  RESULT       REASON",
			"app/one     would-apply  repository had no policy",
			"lib/three   would-apply  repository had no policy",
			"scanned 3: applied 0, would apply 3, unchanged 0, skipped 0, exempt 0, failed 0"}},
		{[]string{"backfill", "--prefix", "app/", "--quiet"}, ExitOK, []string{
			"app/one     applied  repository had no policy",
			"scanned 2: applied 2, would apply 0, unchanged 0, skipped 0, exempt 0, failed 0"}},
		{[]string{"backfill", "--dry-run", "--quiet"}, ExitOK, []string{
			"app/one     unchanged",
			"lib/three   would-apply  repository had no policy",
			"scanned 3: applied 0, would apply 1, unchanged 2"}},
		{[]string{"backfill", "--dry-run", "--quiet", "--exempt", "lib/*", "--mode", "merge"}, ExitOK, []string{
			"lib/three   exempt     name matches exemption pattern \"lib/*\"",
			"exempt 1, failed 0"}},
		{[]string{"backfill", "--write-tps", "0"}, ExitUsage, nil},
		{[]string{"backfill", "--mode", "append"}, ExitUsage, nil},
		{[]string{"sync"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestInterruptedRunResumes interrupts a paced run (Ctrl-C cancels the
// context in main) and resumes it with the token it printed: the first run
// exits ExitIncomplete, the second completes, and every repository ends
// with the baseline.
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

	// Three reads a second: 30 repositories take at least nine seconds,
	// and the interrupt comes after two, well after the run has started.
	interrupted, cancel := context.WithCancel(ctx)
	time.AfterFunc(2*time.Second, cancel)
	var out, errOut bytes.Buffer
	if code := Run(interrupted, []string{"backfill", "--quiet", "--read-tps", "3"}, &out, &errOut, lookup); code != ExitIncomplete {
		t.Fatalf("interrupted run: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitIncomplete, out.String(), errOut.String())
	}
	_, token, ok := strings.Cut(strings.TrimSpace(errOut.String()), "resume with --token ")
	if !ok || token == "" {
		t.Fatalf("no token in stderr:\n%s", errOut.String())
	}

	out.Reset()
	errOut.Reset()
	if code := Run(ctx, []string{"backfill", "--quiet", "--read-tps", "1000", "--token", token}, &out, &errOut, lookup); code != ExitOK {
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
