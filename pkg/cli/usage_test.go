package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestHelpAndVersion: asked for, help and the version go to stdout with
// exit 0; a mistake gets the usage on stderr with ExitUsage.
func TestHelpAndVersion(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // stdout holds each
		wantErrOut []string // stderr holds each
	}{
		{"-h", []string{"-h"}, ExitOK, []string{"backfill", "check", "restore", "version", "--stack NAME", "--function NAME", "4 (check) a\nrepository would change"}, nil},
		{"help", []string{"help"}, ExitOK, []string{usage}, nil},
		{"backfill -h", []string{"backfill", "-h"}, ExitOK, []string{"usage: ecr-baseline backfill", "-policy-file", "-function", "-stack", "-region", "-profile", "-output", "-no-archive"}, nil},
		{"check -h", []string{"check", "--help"}, ExitOK, []string{"usage: ecr-baseline check", "-policy-file", "-token"}, nil},
		{"restore -h", []string{"restore", "-h"}, ExitOK, []string{"usage: ecr-baseline restore", "-enforcer-dry-run", "-function"}, nil},
		{"--version", []string{"--version"}, ExitOK, []string{"ecr-baseline " + Version() + "\n"}, nil},
		{"version", []string{"version"}, ExitOK, []string{"ecr-baseline " + Version() + "\n"}, nil},
		{"no command", nil, ExitUsage, nil, []string{usage}},
		{"an unknown command", []string{"plan"}, ExitUsage, nil, []string{"ecr-baseline: unknown command \"plan\"\n", usage}},
		{"an unknown flag", []string{"check", "--plan"}, ExitUsage, nil, []string{"flag provided but not defined: -plan", "usage: ecr-baseline check"}},
		{"check has no --no-archive", []string{"check", "--no-archive"}, ExitUsage, nil, []string{"flag provided but not defined: -no-archive"}},
		{"an argument", []string{"check", "team/"}, ExitUsage, nil, []string{"unexpected argument \"team/\": flags only (see check -h)\n"}},
		{"an unknown output", []string{"check", "--output", "yaml"}, ExitUsage, nil, []string{"--output must be text or json, got \"yaml\"\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), tt.args, &out, &errOut, func(string) (string, bool) { return "", false })
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
			if tt.wantOut == nil && out.Len() > 0 {
				t.Errorf("stdout %q, want none", out.String())
			}
		})
	}
}

func TestVersionOf(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"go install of a release", "v1.2.0", nil, "v1.2.0"},
		{"a build in a checkout: the pseudo-version names the commit", "v0.0.0-20260102150405-0123456789ab+dirty", vcs(rev, "true"),
			"v0.0.0-20260102150405-0123456789ab+dirty"},
		{"go run: no version, a revision", "(devel)", vcs(rev, "false"), "(devel) (revision " + rev + ")"},
		{"go run with changes", "(devel)", vcs(rev, "true"), "(devel) (revision " + rev + ", modified)"},
		{"nothing stamped", "", nil, "(devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ecr-baseline/ecr-baseline", Version: tt.version}, Settings: tt.settings}
			if got := versionOf(info); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name        string
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{"nothing done yet", 0, 1530, 2 * time.Second, "... 0/1530 repositories, 2s"},
		{"a pace to go by", 120, 1530, time.Minute, "... 120/1530 repositories, 1m0s, about 11m45s left"},
		{"all done", 1530, 1530, 10 * time.Minute, "... 1530/1530 repositories, 10m0s"},
		{"total not known (a resumed run)", 120, unknown, 1500 * time.Millisecond, "... 120 repositories done, 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(tt.done, tt.total, tt.elapsed); got != tt.want {
				t.Errorf("progressLine(%d, %d, %s) = %q, want %q", tt.done, tt.total, tt.elapsed, got, tt.want)
			}
		})
	}
}

// TestRegionAndProfile: --region and --profile choose where the command
// works, over the environment's AWS_REGION, as the report says; an
// unknown profile is a usage error. A template from a file keeps the
// baseline parameter, which is in moto's default region, out of it.
func TestRegionAndProfile(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	if err := fleet.New(cfg, policies.Baseline).Seed(ctx, fleet.Repo{Name: "east/one"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	template := writeFile(t, dir, "baseline.json", policies.Baseline)
	awsConfig := writeFile(t, dir, "config", "[profile west]\nregion = eu-west-1\naws_access_key_id = testing\naws_secret_access_key = testing\n")
	t.Setenv("AWS_CONFIG_FILE", awsConfig)
	t.Setenv("AWS_REGION", "") // the SDK reads an empty variable as unset

	tests := []struct {
		name        string
		args        []string
		wantCode    int
		wantRegion  string
		wantScanned int
		wantErr     string
	}{
		{"--region", []string{"--region", "eu-west-1"}, ExitOK, "eu-west-1", 0, ""},
		{"--profile", []string{"--profile", "west"}, ExitOK, "eu-west-1", 0, ""},
		{"--region over the profile's", []string{"--profile", "west", "--region", "us-east-1"}, ExitChanges, "us-east-1", 1, ""},
		{"an unknown profile", []string{"--profile", "nowhere"}, ExitUsage, "", 0, "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runWith(ctx, lookup, nil, append([]string{"check", "--quiet", "--output", "json", "--policy-file", template}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			rep := decodeReport[enforcer.Result, backfill.Summary](t, out)
			scanned := 0
			if rep.Summary != nil {
				scanned = rep.Summary.Scanned
			}
			if rep.Region != tt.wantRegion || scanned != tt.wantScanned || !strings.Contains(rep.Error, tt.wantErr) {
				t.Errorf("region %q, scanned %d, error %q; want %q, %d, one holding %q", rep.Region, scanned, rep.Error, tt.wantRegion, tt.wantScanned, tt.wantErr)
			}
		})
	}
}

// TestInScope counts what the progress line's total counts, on moto.
func TestInScope(t *testing.T) {
	ctx := context.Background()
	cfg, _ := freshMoto(t)
	f := fleet.New(cfg, policies.Baseline)
	if err := f.Seed(ctx, fleet.Repo{Name: "app/one"}, fleet.Repo{Name: "app/two"}, fleet.Repo{Name: "lib/three"}); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]int{"": 3, "app/": 2, "lib/": 1, "none/": 0} {
		if got := inScope(ctx, f.ECR, prefix); got != want {
			t.Errorf("inScope(%q) = %d, want %d", prefix, got, want)
		}
	}
}
