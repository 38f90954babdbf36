package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestGuardJudgesTheCaller runs backfill on moto as a session of the role
// team/ops and as moto's default user. The CLI writes with the caller's
// credentials and the function keeps enforcing after it, so a Deny must
// lock out neither: with --function, a Deny on another role is written,
// one on the caller's role or on the function's is refused before any
// repository; without it the function's role is unknown, and a Deny on
// any role of the account is refused, whoever calls.
func TestGuardJudgesTheCaller(t *testing.T) {
	const (
		noCI    = `{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci"},"Action":"ecr:*"}`
		noOps   = `{"Sid":"NoOps","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/team/ops"},"Action":"ecr:*"}`
		noFn    = `{"Sid":"NoFn","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/enforcer"},"Action":"ecr:*"}`
		refused = "backfill: nothing enforced: load baseline /ecr-baseline/baseline-policy: policy would lock this account out of setting the repository policy: "
		stop    = " without a Condition would stop this account from setting the policy again; set force to apply it anyway\n"
	)
	withDeny := func(statement string) string {
		return strings.Replace(policies.Baseline, `"Statement": [`, `"Statement": [`+statement+`,`, 1)
	}
	function := []string{"--function", "enforcer"}
	tests := []struct {
		name     string
		asOps    bool     // a session of role team/ops, or moto's user
		args     []string // besides backfill --quiet --no-archive
		template string
		wantCode int
		// wantErr ends stderr, after the settings; "" when every
		// repository takes the baseline.
		wantErr string
	}{
		{"--function: a Deny on another role", true, function, withDeny(noCI), ExitOK, ""},
		{"--function: a Deny on the caller's role", true, function, withDeny(noOps), ExitFailed,
			refused + `statement "NoOps": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/team/ops"]}` + stop},
		{"--function: a Deny on the function's role", true, function, withDeny(noFn), ExitFailed,
			refused + `statement "NoFn": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/enforcer"]}` + stop},
		{"the function unknown: a Deny on another role", true, nil, withDeny(noCI), ExitFailed,
			refused + `statement "NoCI": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/ci"]}` + stop},
		{"the function unknown: a Deny on the function's role", true, nil, withDeny(noFn), ExitFailed,
			refused + `statement "NoFn": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/enforcer"]}` + stop},
		{"a caller that is no role", false, function, withDeny(noOps), ExitOK, ""},
		// Each repository is judged in its own region, what ${Region}
		// renders to there: the Deny never holds for its calls.
		{"a Deny outside the call's own region", true, function, withDeny(
			`{"Sid":"OnlyHere","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"${Region}"}}}`), ExitOK, ""},
	}
	names := []string{"team/app", "team/lib"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, lookup := freshMoto(t)
			// Seed stores the template in the parameter.
			f := fleet.New(cfg, tt.template)
			if err := f.Seed(ctx, fleet.Repo{Name: names[0]}, fleet.Repo{Name: names[1], Policy: teamPolicy}); err != nil {
				t.Fatal(err)
			}
			before, err := f.ReadBack(ctx, names)
			if err != nil {
				t.Fatal(err)
			}
			if err := server.Function(ctx, cfg, "enforcer", map[string]string{"SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/enforcer"}); err != nil {
				t.Fatal(err)
			}
			if tt.asOps {
				out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
					RoleArn: aws.String("arn:aws:iam::123456789012:role/team/ops"), RoleSessionName: aws.String("me"),
				})
				if err != nil {
					t.Fatal(err)
				}
				// The command loads its credentials from the environment.
				t.Setenv("AWS_ACCESS_KEY_ID", aws.ToString(out.Credentials.AccessKeyId))
				t.Setenv("AWS_SECRET_ACCESS_KEY", aws.ToString(out.Credentials.SecretAccessKey))
				t.Setenv("AWS_SESSION_TOKEN", aws.ToString(out.Credentials.SessionToken))
			}
			code, out, errOut := runWith(ctx, lookup, nil, append([]string{"backfill", "--quiet", "--no-archive"}, tt.args...)...)
			// The settings end with a setting's source, then a newline.
			if code != tt.wantCode || !strings.HasPrefix(errOut, "settings:\n") || !strings.HasSuffix(errOut, "\n"+tt.wantErr) ||
				strings.Count(errOut, "nothing enforced") != strings.Count(tt.wantErr, "nothing enforced") {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stderr to end with the settings and:\n%s", code, tt.wantCode, out, errOut, tt.wantErr)
			}
			after, err := f.ReadBack(ctx, names)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("a refused baseline was written (-before +after):\n%s", diff)
				}
				return
			}
			for _, name := range names {
				if !after[name].Compliant {
					t.Errorf("%s holds %q, want the baseline with its Deny", name, after[name].Policy)
				}
			}
		})
	}
}

// TestCallerUnknown runs the commands with STS refusing
// GetCallerIdentity (the fault proxy in front of moto, for STS only):
// backfill and check go on with the account unknown and say so, and are
// then stricter: a template naming the account by its literal ID, which
// an identified caller previews, is refused as granting outside it.
// restore, whose archive keys name the account, fails as before.
func TestCallerUnknown(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	proxy, err := faultproxy.Start(server.URL, map[string]faultproxy.Rule{
		"GetCallerIdentity": {FaultRate: 1, Fault: faultproxy.AccessDenied},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	f := fleet.New(cfg, policies.Baseline)
	if err := f.Seed(ctx, fleet.Repo{Name: "team/app"}); err != nil {
		t.Fatal(err)
	}
	literal := writeFile(t, t.TempDir(), "literal.json", strings.ReplaceAll(policies.Baseline, "${AccountId}", moto.AccountID))
	noOther := writeFile(t, t.TempDir(), "no-other.json", strings.Replace(policies.Baseline, `"Statement": [`,
		`"Statement": [{"Sid":"NoOther","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/other"},"Action":"ecr:*"},`, 1))
	if err := server.Function(ctx, cfg, "enforcer", map[string]string{"SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/enforcer"}); err != nil {
		t.Fatal(err)
	}
	// Identified, a Deny on another role than the function's and the
	// caller's (moto's user) passes.
	if code, out, errOut := runWith(ctx, lookup, nil, "check", "--function", "enforcer", "--policy-file", noOther, "--quiet"); code != ExitChanges {
		t.Fatalf("a Deny on another role previewed by an identified caller: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Identified, the caller's account is the literal ID's.
	if code, out, errOut := runWith(ctx, lookup, nil, "backfill", "--policy-file", literal, "--quiet"); code != ExitOK {
		t.Fatalf("a literal account ID previewed by an identified caller: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// The command loads its configuration from the environment.
	t.Setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	// Every line that follows the settings, whole or (the guard's
	// refusal) its start.
	const unknown = ": caller not identified, so the baseline is judged with the account unknown (a literal account ID is taken as outside it, a Deny on any principal of the account as a possible lock-out): "
	const denied = "get caller identity: operation error STS: GetCallerIdentity, https response error StatusCode: 403, RequestID: , api error AccessDenied: injected access denied"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a line of stdout
		wantErr  []string
	}{
		{"check goes on", []string{"check"}, ExitChanges,
			"team/app    would-apply  added BaselineAllowAccountPull, BaselineDenyInsecureTransport  repository had no policy",
			[]string{"check" + unknown + denied, "check: 1 of 1 repositories would change"}},
		{"a literal account ID is outside", []string{"backfill", "--policy-file", literal}, ExitFailed, "",
			[]string{"backfill" + unknown + denied, "baseline: " + literal + " (a preview: nothing is written)",
				"backfill: nothing enforced: load baseline " + literal + ": " + policy.ErrExposes.Error()}},
		// The function's role is known, the caller's is not: it could be
		// any principal of the account.
		{"with --function, a Deny on another role may be on the caller", []string{"check", "--function", "enforcer", "--policy-file", noOther}, ExitFailed, "",
			[]string{"check" + unknown + denied, "baseline: " + noOther + " (a preview: nothing is written)",
				"check: nothing enforced: load baseline " + noOther + ": " + policy.ErrLockOut.Error() + `: statement "NoOther"`}},
		{"restore fails", []string{"restore", "--repository", "team/app", "--archive-bucket", "cli-archive"}, ExitFailed, "",
			[]string{"restore: nothing restored: " + denied}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runWith(ctx, lookup, nil, append(tt.args, "--quiet")...)
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(errOut, "\n"), "\n") {
				if l != "settings:" && !strings.HasPrefix(l, "  ") {
					lines = append(lines, l)
				}
			}
			ok := code == tt.wantCode && strings.Contains(out, tt.wantOut) && len(lines) == len(tt.wantErr)
			for i := 0; ok && i < len(lines); i++ {
				ok = strings.HasPrefix(lines[i], tt.wantErr[i])
			}
			if !ok {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stdout holding %q and stderr's lines after the settings starting:\n%s",
					code, tt.wantCode, out, errOut, tt.wantOut, strings.Join(tt.wantErr, "\n"))
			}
		})
	}
}
