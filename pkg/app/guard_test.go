package app

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// TestHarmfulBaselineTouchesNothing is issue 10's items 3 to 6 on moto
// through the function's own wiring: each harmful baseline fails a
// sweep when it is loaded, before a single ECR call, and every
// repository keeps the policy it had. A Deny on another role of the
// account is no lock-out and is applied.
func TestHarmfulBaselineTouchesNothing(t *testing.T) {
	const (
		team    = `{"Version":"2012-10-17","Statement":[{"Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:PutImage"}]}`
		prefix  = "sweep: nothing queued: load baseline /ecr-baseline/baseline-policy: "
		exposed = prefix + "baseline would grant access outside this account: "
	)
	doc := func(statement string) string {
		return `{"Version":"2012-10-17","Statement":[` + statement + `]}`
	}
	tests := []struct {
		name, template, want string
	}{
		{"public", doc(`{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}`),
			exposed + `statement "Open": Allow to "*" would make every repository public; scope it with a StringEquals aws:PrincipalOrgID condition on an organization in allowedPrincipals, or set allowPublic`},
		{"another account may push", doc(`{"Sid":"Push","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:PutImage","ecr:SetRepositoryPolicy"]}`),
			exposed + `statement "Push": Allow to 444455556666, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"the enforcer's reads denied", doc(`{"Sid":"NoReads","Effect":"Deny","Principal":"*","Action":"ecr:GetRepositoryPolicy"}`),
			prefix + `policy would lock this account out of setting the repository policy: statement "NoReads": Deny ecr:getrepositorypolicy for "*" without a Condition would stop this account from calling ecr:GetRepositoryPolicy; set force to apply it anyway`},
		{"a Condition that always holds", doc(`{"Sid":"Like","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringLike":{"aws:PrincipalArn":"*"}}}`),
			prefix + `policy would lock this account out of setting the repository policy: statement "Like": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringLike aws:principalarn) would stop this account from setting the policy again; set force to apply it anyway`},
		{"a typo in a variable", doc(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountID}:root"},"Action":"ecr:BatchGetImage"}`),
			prefix + `invalid repository policy: unknown variable ${AccountID} at /Statement/0/Principal/AWS (known: ${AccountId}, ${Region}, ${RepositoryName}, ${RepositoryArn} and IAM's ${aws:...})`},
		{"a key collision in this account", doc(`{"Sid":"Tag","Effect":"Deny","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:ResourceTag/${AccountId}":"a","aws:ResourceTag/123456789012":"b"}}}`),
			prefix + `invalid repository policy: keys "aws:ResourceTag/${AccountId}" and "aws:ResourceTag/123456789012" are the same once rendered`},
		{"a Deny on another role", doc(`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci"},"Action":"ecr:*"}`), ""},
	}
	repos := []fleet.Repo{{Name: "team-a/web"}, {Name: "team-b/api", Policy: team}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := seed(t, repos...)
			change(t, f, tt.template)
			c := newContainer(t, sweepQueues(t)...)
			_, err := c.Handler.Handle(context.Background(), []byte(`{"action":"sweep","dryRun":false}`))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("sweep: %v", err)
				}
				c.consume(t)
				for _, r := range repos {
					if ok, err := f.Compliant(context.Background(), r.Name); err != nil || !ok {
						t.Errorf("%s compliant = %v, %v; want the baseline applied", r.Name, ok, err)
					}
				}
				return
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("sweep error (-want +got):\n%s", diff)
			}
			for _, op := range []string{"DescribeRepositories", "ListTagsForResource", "GetRepositoryPolicy", "SetRepositoryPolicy"} {
				if n := c.calls.Count(op); n != 0 {
					t.Errorf("%d %s calls, want none", n, op)
				}
			}
			for _, r := range repos {
				if got, err := f.Policy(context.Background(), r.Name); err != nil || got != r.Policy {
					t.Errorf("%s holds %q, %v; want %q as before", r.Name, got, err, r.Policy)
				}
			}
		})
	}
}

// TestTeamDenyJudgedAgainstOwnRole is merge mode keeping a team's own
// Deny: one on another role (role/ci) is merged and written, one on the
// function's own role is refused for that repository alone, which is left
// as it was.
func TestTeamDenyJudgedAgainstOwnRole(t *testing.T) {
	const (
		denyCI   = `{"Version":"2012-10-17","Statement":[{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}]}`
		denySelf = `{"Version":"2012-10-17","Statement":[{"Sid":"NoEnforcer","Effect":"Deny","Principal":{"AWS":"` + selfRole + `"},"Action":"ecr:SetRepositoryPolicy"}]}`
	)
	f := seed(t, fleet.Repo{Name: "team-a/web", Policy: denyCI}, fleet.Repo{Name: "team-b/api", Policy: denySelf})
	queues := sweepQueues(t)
	c := newContainer(t, append(queues, "ENFORCEMENT_MODE=merge")...)
	if _, err := c.Handler.Handle(context.Background(), []byte(`{"action":"sweep","dryRun":false}`)); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	reason := `merged policy: policy would lock this account out of setting the repository policy: ` +
		`statement "NoEnforcer": Deny ecr:setrepositorypolicy for {"AWS":["` + selfRole + `"]} without a Condition would stop this account from setting the policy again; set force to apply it anyway`
	// team-b/api fails each of its five deliveries, then goes to the
	// dead-letter queue as itself, with the reason.
	var want []enforcer.Result
	for range 5 {
		want = append(want, enforcer.Result{Repository: "team-b/api", Action: enforcer.Failed, Reason: reason})
	}
	want = append([]enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied}}, want...)
	got := c.consume(t)
	for i := range got {
		if got[i].Action != enforcer.Failed {
			got[i].Reason = "" // the applied one's reason is not this test's
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(enforcer.Result{}, "Archive", "Diff")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	dead := deadLetters(t, queues)
	if len(dead) != 1 || !strings.Contains(dead[0].Body, `"repository":"team-b/api"`) || dead[0].Attributes["reason"] != "enforce team-b/api: "+reason {
		t.Errorf("dead-letter queue holds %+v; want team-b/api's item with its reason", dead)
	}
	merged, err := f.Policy(context.Background(), "team-a/web")
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := policy.Parse(merged); err != nil || !slices.ContainsFunc(doc.Statement, func(s policy.Statement) bool { return s.Sid == "NoCI" }) {
		t.Errorf("team-a/web holds %s, %v; want the team's NoCI kept beside the baseline", merged, err)
	}
	if got, err := f.Policy(context.Background(), "team-b/api"); err != nil || got != denySelf {
		t.Errorf("team-b/api holds %q, %v; want it left as it was", got, err)
	}
}
