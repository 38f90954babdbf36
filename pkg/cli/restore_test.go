package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// teamPolicy is a team's own policy, which the baseline replaces or merges
// into.
const teamPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"TeamPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/team"},"Action":"ecr:BatchGetImage"}]}`

// TestRestoreCommandOnMoto replaces one team policy and merges into
// another with an archiving backfill, then puts both back with restore:
// each repository ends holding the team's text exactly. A restore that
// the enforcer would undo at once is refused; a backfill whose archive
// cannot be written writes nothing.
func TestRestoreCommandOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	ecrClient := ecr.NewFromConfig(cfg)
	if err := moto.VersionedBucket(ctx, moto.S3(cfg), "cli-archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/baseline-policy"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"svc/replaced", "svc/merged", "other/unarchived"} {
		if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(teamPolicy)}); err != nil {
			t.Fatal(err)
		}
	}
	held := func(name string) string {
		t.Helper()
		out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.PolicyText)
	}
	run := func(args ...string) (int, string, string) { return runWith(ctx, lookup, nil, args...) }
	const bucket = "--archive-bucket=cli-archive"
	for _, args := range [][]string{
		{"backfill", "--quiet", bucket, "--prefix", "svc/replaced"},
		{"backfill", "--quiet", bucket, "--prefix", "svc/merged", "--mode", "merge"},
	} {
		if code, out, errOut := run(args...); code != ExitOK || !strings.Contains(out, "applied 1,") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
	if held("svc/replaced") == teamPolicy || held("svc/merged") == teamPolicy {
		t.Fatal("the backfill wrote nothing")
	}

	// The archive cannot be written (no such bucket): nothing is written.
	code, out, _ := run("backfill", "--quiet", "--archive-bucket=missing", "--prefix", "other/")
	if code != ExitFailed || !strings.Contains(out, "other/unarchived  failed") || !strings.Contains(out, "policy not archived") {
		t.Errorf("backfill without a writable archive: exit %d, want %d and the repository failed:\n%s", code, ExitFailed, out)
	}
	if got := held("other/unarchived"); got != teamPolicy {
		t.Errorf("other/unarchived holds %s after a failed archive, want the team's policy untouched", got)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		want       []string // lines of stdout
		wantStderr string   // the line stderr ends with, when set
	}{
		{"no bucket", []string{"restore", "--repository", "svc/replaced"}, ExitUsage, nil,
			"restore reads the archive: give --function or --stack, or --archive-bucket (or ECR_BASELINE_ARCHIVE_BUCKET)\n"},
		{"no selection", []string{"restore", bucket}, ExitUsage, nil,
			"restore needs --repository, --prefix or --since: it never restores the whole account by default\n"},
		{"both selections", []string{"restore", bucket, "--repository", "a", "--prefix", "b"}, ExitUsage, nil,
			"--repository and --prefix both given: choose one\n"},
		{"a bad time", []string{"restore", bucket, "--since", "yesterday"}, ExitUsage, nil,
			"--since must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got \"yesterday\"\n"},
		{"not exempt: refused", []string{"restore", "--quiet", bucket, "--repository", "svc/replaced"}, ExitFailed, []string{
			"scanned 1: restored 0, would restore 0, unchanged 0, skipped 0, refused 1, failed 0"}, ""},
		{"dry run", []string{"restore", "--quiet", bucket, "--prefix", "svc/", "--dry-run", "--enforcer-dry-run"}, ExitOK, []string{
			"scanned 2: restored 0, would restore 2, unchanged 0, skipped 0, refused 0, failed 0"}, ""},
		{"exempt by name: restored", []string{"restore", "--quiet", bucket, "--repository", "svc/replaced", "--exempt", "svc/replaced"}, ExitOK, []string{
			"scanned 1: restored 1, would restore 0, unchanged 0, skipped 0, refused 0, failed 0"}, ""},
		{"the stack in dry-run: restored", []string{"restore", "--quiet", bucket, "--prefix", "svc/", "--enforcer-dry-run"}, ExitOK, []string{
			"scanned 2: restored 1, would restore 0, unchanged 1, skipped 0, refused 0, failed 0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(tt.args...)
			checkRun(t, code, out, errOut, tt.wantCode, tt.want)
			if !strings.HasSuffix(errOut, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to end with:\n%s", errOut, tt.wantStderr)
			}
		})
	}
	for _, name := range []string{"svc/replaced", "svc/merged"} {
		if got := held(name); got != teamPolicy {
			t.Errorf("%s holds %s after restore, want the team's policy as it was:\n%s", name, got, teamPolicy)
		}
	}
}
