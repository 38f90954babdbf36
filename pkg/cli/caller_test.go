package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
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
