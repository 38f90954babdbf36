package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/org"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// The organisation of TestOrganization: the hub (moto's default account)
// and three members in two regions; one member has no role to assume.
var (
	memberIDs  = []string{"111111111111", "222222222222", "333333333333"}
	noRole     = "333333333333"
	regions    = []string{"us-east-1", "eu-west-1"}
	nonMember  = "444444444444"
	memberRole = "ecr-baseline-member"
)

// denyRole stands in front of moto and answers AssumeRole of account's
// member role with AccessDenied, as STS does for a role that is missing
// or does not trust the caller (moto assumes any role).
func denyRole(t *testing.T, account string) string {
	t.Helper()
	target, err := url.Parse(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	role := url.QueryEscape("arn:aws:iam::" + account + ":role/" + memberRole)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), "Action=AssumeRole") && strings.Contains(string(body), role) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// memberECR is an ECR client in account and region on moto, through the
// member role, as an operator there would have.
func memberECR(t *testing.T, account, region string) *ecr.Client {
	t.Helper()
	base, err := server.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := (&org.Access{Base: base, OwnAccount: moto.AccountID, RoleName: memberRole}).Config(context.Background(), account, region)
	if err != nil {
		t.Fatal(err)
	}
	return ecr.NewFromConfig(cfg)
}

// inAccount is an events/ sample as account's registry in region sends it
// to the hub's bus.
func inAccount(t *testing.T, file, account, region string) []byte {
	t.Helper()
	return samples.Relocated(t, samples.Read(t, file), account, region)
}

// compliant reports whether the repository holds the baseline rendered
// for its account and region.
func compliant(t *testing.T, client *ecr.Client, account, region, name string) bool {
	t.Helper()
	out, err := client.GetRepositoryPolicy(context.Background(), &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	if err != nil {
		return false
	}
	ok, err := (&fleet.Fleet{Template: policies.Baseline}).Holds(aws.ToString(out.PolicyText), account, region, name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestOrganization is issue 12 on moto, through the function's wiring: a
// hub with three member accounts in two regions. Each member's new
// repository is enforced from its forwarded event in its own account and
// region; an event from an account that is no member is refused; a sweep
// covers the hub and the six member targets through the queue, and the
// member whose role cannot be assumed fails alone, with a message naming
// the role, while every other target completes.
func TestOrganization(t *testing.T) {
	ctx := context.Background()
	seed(t)
	queues := sweepQueues(t)
	hub := newContainerAt(t, denyRole(t, noRole), append(queues, "MEMBER_ACCOUNTS="+strings.Join(memberIDs, ","),
		"MEMBER_REGIONS="+strings.Join(regions, ","), "MEMBER_ROLE_NAME="+memberRole)...)

	// Events: each member's repository in each region, as forwarded.
	for _, account := range memberIDs {
		for _, region := range regions {
			client := memberECR(t, account, region)
			if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-a/web")}); err != nil {
				t.Fatal(err)
			}
			res, err := hub.Handler.Handle(ctx, inAccount(t, "create-repository.json", account, region))
			switch {
			case account == noRole:
				if err == nil || !strings.Contains(err.Error(), "assume arn:aws:iam::"+noRole+":role/"+memberRole) || !strings.Contains(err.Error(), "AccessDenied") {
					t.Errorf("%s/%s: error %v, want the member role named and AccessDenied", account, region, err)
				}
			case err != nil || len(res.Results) != 1 || res.Results[0].Action != enforcer.Applied:
				t.Errorf("%s/%s: %+v, %v; want applied", account, region, res.Results, err)
			case !compliant(t, client, account, region, "team-a/web"):
				t.Errorf("%s/%s: team-a/web does not hold the baseline rendered for its account and region", account, region)
			}
		}
	}
	if _, err := hub.Handler.Handle(ctx, inAccount(t, "create-repository.json", nonMember, "us-east-1")); err == nil ||
		!strings.Contains(err.Error(), "account "+nonMember+" in us-east-1: not a member account") {
		t.Errorf("an event from a non-member: %v, want it refused", err)
	}

	// A sweep: a second repository everywhere, without a policy.
	for _, account := range memberIDs {
		for _, region := range regions {
			if _, err := memberECR(t, account, region).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-b/api")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	direct, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.New(direct, policies.Baseline).Seed(ctx, fleet.Repo{Name: "hub/app"}); err != nil {
		t.Fatal(err)
	}
	res, err := hub.Handler.Handle(ctx, []byte(`{"action":"sweep","dryRun":false}`))
	if err != nil || res.Sweep == nil || res.Sweep.Targets != 7 {
		t.Fatalf("sweep: %+v, %v; want one over the hub and six member targets", res.Sweep, err)
	}
	hub.consume(t)
	for _, account := range memberIDs {
		for _, region := range regions {
			client := memberECR(t, account, region)
			for _, name := range []string{"team-a/web", "team-b/api"} {
				if got := compliant(t, client, account, region, name); got != (account != noRole) {
					t.Errorf("%s/%s %s compliant = %v after the sweep", account, region, name, got)
				}
			}
		}
	}
	if ok, err := fleet.New(direct, policies.Baseline).Compliant(ctx, "hub/app"); err != nil || !ok {
		t.Errorf("the hub's own hub/app compliant = %v, %v", ok, err)
	}
	// The unreachable member's two list items end in the dead-letter
	// queue with the reason; nothing else does.
	dead := deadLetters(t, queues)
	if len(dead) != 2 {
		t.Fatalf("dead letters %+v, want the two list items of %s", dead, noRole)
	}
	for _, d := range dead {
		if !strings.Contains(d.Body, `"account":"`+noRole+`"`) || !strings.Contains(d.Attributes["reason"], "assume arn:aws:iam::"+noRole+":role/"+memberRole) {
			t.Errorf("dead letter %s (%s): want %s's list item with the role named", d.Body, d.Attributes["reason"], noRole)
		}
	}
}

// TestOwnWritesInTheOrganization: a policy write the function made is
// skipped wherever it made it, judged by the role that makes its writes
// there: its own role at home and, when the hub's account is a member
// itself, in the hub account's other regions too, where org.Access
// reaches it with the function's own credentials; the member role in a
// member account. The same write by a role that is not the function's
// there is enforced.
func TestOwnWritesInTheOrganization(t *testing.T) {
	ctx := context.Background()
	seed(t)
	member := memberIDs[0]
	hub := newContainer(t, "MEMBER_ACCOUNTS="+moto.AccountID+","+member,
		"MEMBER_REGIONS="+strings.Join(regions, ","), "MEMBER_ROLE_NAME="+memberRole)
	memberRoleIn := func(account string) string { return "arn:aws:iam::" + account + ":role/" + memberRole }
	for _, tc := range []struct {
		name, account, region, actor string
		skipped                      bool
	}{
		{"hub account, own region, own role", moto.AccountID, regions[0], selfRole, true},
		{"hub account, another region, own role", moto.AccountID, regions[1], selfRole, true},
		{"hub account, another region, the member role's name", moto.AccountID, regions[1], memberRoleIn(moto.AccountID), false},
		{"member account, member role", member, regions[1], memberRoleIn(member), true},
		{"member account, the hub's role", member, regions[1], selfRole, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := memberECR(t, tc.account, tc.region)
			name := "own/" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			name = strings.NewReplacer(",", "", "'", "").Replace(name)
			if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
			written, err := policy.Render(policies.Baseline, policy.Vars{AccountID: tc.account, Region: tc.region, RepositoryName: name})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(written)}); err != nil {
				t.Fatal(err)
			}
			// The enforcer's sample, moved to the account and region, made
			// by tc.actor, on this repository, writing the baseline.
			event := strings.ReplaceAll(string(inAccount(t, "set-repository-policy-by-enforcer.json", tc.account, tc.region)),
				`"arn": "arn:aws:iam::`+tc.account+`:role/EcrBaseline-EnforcerRole"`, `"arn": "`+tc.actor+`"`)
			event = strings.ReplaceAll(event, `"repositoryName": "team-a/web"`, `"repositoryName": "`+name+`"`)
			res, err := hub.Handler.Handle(ctx, samples.WithPolicyText(t, []byte(event), written))
			if err != nil || len(res.Results) != 1 {
				t.Fatalf("%+v, %v; want one result", res.Results, err)
			}
			if got := res.Results[0].Action == enforcer.Skipped; got != tc.skipped {
				t.Errorf("%+v: skipped %v, want %v", res.Results[0], got, tc.skipped)
			}
			if !compliant(t, client, tc.account, tc.region, name) {
				t.Errorf("%s does not hold the baseline", name)
			}
		})
	}
}

// TestMemberViewGuard: a baseline is also checked as a member sees it. A
// grant to the hub's account is outside every member's account, so it
// needs allowedPrincipals like any other; and it fails at load, with
// nothing queued.
func TestMemberViewGuard(t *testing.T) {
	const hubPull = `{"Version":"2012-10-17","Statement":[{"Sid":"HubPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`
	for _, tt := range []struct {
		name    string
		env     []string
		wantErr string
	}{
		{name: "the hub's account, not allowed",
			wantErr: `as a member account sees it: baseline would grant access outside this account: statement "HubPull": Allow to 123456789012, outside this account`},
		{name: "the hub's account, allowed", env: []string{"ALLOWED_PRINCIPALS=123456789012"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := seed(t)
			change(t, f, hubPull)
			hub := newContainer(t, append(append(sweepQueues(t), "MEMBER_ACCOUNTS="+strings.Join(memberIDs, ",")), tt.env...)...)
			_, err := hub.Handler.Handle(context.Background(), []byte(`{"action":"sweep","dryRun":true}`))
			if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestOrganizationRoot: a hub in the management account that covers the
// whole organisation (its root, on moto's Organizations). The management
// account is left out of the accounts found under the root, since
// StackSets never give it a member role, but not when the hub runs there:
// its account is covered in every member region, reached with its own
// role, as before.
func TestOrganizationRoot(t *testing.T) {
	ctx := context.Background()
	seed(t)
	direct, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orgs := organizations.NewFromConfig(direct)
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}); err != nil {
		t.Fatal(err)
	}
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("roots %+v, %v; want one", roots, err)
	}
	created, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("web"), Email: aws.String("web@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	member := aws.ToString(created.CreateAccountStatus.AccountId)
	hub := newContainer(t, "MEMBER_ORGANIZATIONAL_UNITS="+aws.ToString(roots.Roots[0].Id),
		"MEMBER_REGIONS="+strings.Join(regions, ","), "MEMBER_ROLE_NAME="+memberRole)

	targets, err := hub.Handler.Members.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []handler.Target
	for _, account := range slices.Sorted(slices.Values([]string{moto.AccountID, member})) {
		for _, region := range regions {
			want = append(want, handler.Target{Account: account, Region: region})
		}
	}
	if diff := cmp.Diff(want, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	client := memberECR(t, moto.AccountID, regions[1])
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-a/web")}); err != nil {
		t.Fatal(err)
	}
	res, err := hub.Handler.Handle(ctx, inAccount(t, "create-repository.json", moto.AccountID, regions[1]))
	if err != nil || len(res.Results) != 1 || res.Results[0].Action != enforcer.Applied {
		t.Errorf("the hub's account in %s: %+v, %v; want applied", regions[1], res.Results, err)
	}
}
