package policy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/policies"
)

func TestLocksOut(t *testing.T) {
	const hint = " without a Condition would stop this account from setting the policy again; set force to apply it anyway"
	tests := []struct {
		name       string
		statements string // the policy's Statement array, without brackets
		want       []string
	}{
		{"Deny ecr:* for *",
			`{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"ecr:*"}`,
			[]string{`statement "DenyAll": Deny ecr:* for "*"` + hint}},
		{"Deny ecr:SetRepositoryPolicy for AWS *",
			`{"Sid":"NoSet","Effect":"Deny","Principal":{"AWS":"*"},"Action":"ecr:SetRepositoryPolicy"}`,
			[]string{`statement "NoSet": Deny ecr:setrepositorypolicy for {"AWS":["*"]}` + hint}},
		{"Deny * without a Sid",
			`{"Effect":"Deny","Principal":"*","Action":"*"}`,
			[]string{`a statement without a Sid: Deny * for "*"` + hint}},
		{"Deny for the account only, matching actions listed",
			`{"Sid":"Acct","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:DeleteRepository","ecr:SetRepositoryPolicy","ecr:*Policy"]}`,
			[]string{`statement "Acct": Deny ecr:*policy, ecr:setrepositorypolicy for {"AWS":["111122223333"]}` + hint}},
		{"NotAction that spares only pulls",
			`{"Sid":"OnlyPull","Effect":"Deny","Principal":"*","NotAction":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`,
			[]string{`statement "OnlyPull": Deny every action but ecr:batchgetimage, ecr:getdownloadurlforlayer for "*"` + hint}},
		{"NotAction that spares SetRepositoryPolicy but not the reads",
			`{"Sid":"SparesSet","Effect":"Deny","Principal":"*","NotAction":["ecr:BatchGetImage","ecr:Set*"]}`,
			[]string{`statement "SparesSet": Deny every action but ecr:batchgetimage, ecr:set* for "*" without a Condition would stop this account from calling ecr:GetRepositoryPolicy, ecr:ListTagsForResource, ecr:DescribeRepositories, ecr:DeleteRepositoryPolicy; set force to apply it anyway`}},
		{"NotAction that spares every enforcer call",
			`{"Sid":"SparesAll","Effect":"Deny","Principal":"*","NotAction":["ecr:Describe*","ecr:Get*","ecr:List*","ecr:Set*","ecr:DeleteRepositoryPolicy"]}`, nil},
		{"NotPrincipal counts as everyone else",
			`{"Sid":"AllButAdmin","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"ecr:*"}`,
			[]string{`statement "AllButAdmin": Deny ecr:* for everyone but {"AWS":["arn:aws:iam::111122223333:role/admin"]}` + hint}},
		{"Deny with a Condition",
			`{"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`, nil},
		{"empty Condition scopes nothing",
			`{"Sid":"Empty","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{}}}`,
			[]string{`statement "Empty": Deny ecr:* for "*"` + hint}},
		{"Allow", `{"Sid":"Pull","Effect":"Allow","Principal":"*","Action":"ecr:*"}`, nil},
		{"Deny another action", `{"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}`, nil},
		{"Deny a service principal", `{"Sid":"NoLambda","Effect":"Deny","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:*"}`, nil},
		{"action case ignored",
			`{"Sid":"Shout","Effect":"Deny","Principal":"*","Action":"ECR:SETREPOSITORYPOLICY"}`,
			[]string{`statement "Shout": Deny ecr:setrepositorypolicy for "*"` + hint}},
		{"wildcard ecr:Set*",
			`{"Sid":"NoSets","Effect":"Deny","Principal":"*","Action":"ecr:Set*"}`,
			[]string{`statement "NoSets": Deny ecr:set* for "*"` + hint}},
		{"wildcard ecr:Get* blocks the enforcer's read",
			`{"Sid":"NoGets","Effect":"Deny","Principal":"*","Action":"ecr:Get*"}`,
			[]string{`statement "NoGets": Deny ecr:get* for "*" without a Condition would stop this account from calling ecr:GetRepositoryPolicy; set force to apply it anyway`}},
		{"one reason per statement",
			`{"Sid":"A","Effect":"Deny","Principal":"*","Action":"ecr:*"},{"Sid":"B","Effect":"Deny","Principal":"*","Action":"ecr:Set?epositoryPolicy"},{"Sid":"C","Effect":"Allow","Principal":"*","Action":"ecr:*"}`,
			[]string{
				`statement "A": Deny ecr:* for "*"` + hint,
				`statement "B": Deny ecr:set?epositorypolicy for "*"` + hint,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, `{"Version":"2012-10-17","Statement":[`+tt.statements+`]}`)
			if diff := cmp.Diff(tt.want, Guard{}.LocksOut(doc)); diff != "" {
				t.Errorf("LocksOut (-want +got):\n%s", diff)
			}
			err := Guard{}.CheckLockOut(doc)
			if (err != nil) != (len(tt.want) > 0) || (err != nil && !errors.Is(err, ErrLockOut)) {
				t.Errorf("CheckLockOut = %v, want ErrLockOut iff LocksOut reports", err)
			}
		})
	}
}

func TestCheckLockOut(t *testing.T) {
	doc := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","Principal":"*","Action":"ecr:*"},{"Sid":"B","Effect":"Deny","Principal":{"AWS":"*"},"NotAction":"ecr:BatchGetImage"}]}`)
	want := "policy would lock this account out of setting the repository policy: " +
		`statement "A": Deny ecr:* for "*" without a Condition would stop this account from setting the policy again; set force to apply it anyway` + "\n" +
		`statement "B": Deny every action but ecr:batchgetimage for {"AWS":["*"]} without a Condition would stop this account from setting the policy again; set force to apply it anyway`
	err := Guard{}.CheckLockOut(doc)
	if !errors.Is(err, ErrLockOut) {
		t.Fatalf("CheckLockOut = %v, want ErrLockOut", err)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if err := (Guard{}).CheckLockOut(nil); err != nil {
		t.Errorf("Guard{}.CheckLockOut(nil) = %v", err)
	}
}

// The project's default baseline denies ecr:* for "*" only over plain HTTP,
// so applying it must not need force.
func TestProjectBaselineDoesNotLockOut(t *testing.T) {
	text, err := Render(policies.Baseline, Vars{AccountID: "111122223333", Region: "eu-west-1", RepositoryName: "team-a/web"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	doc, err := Validate(text)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := (Guard{}).CheckLockOut(doc); err != nil {
		t.Errorf("CheckLockOut(policies.Baseline) = %v", err)
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{"ecr:SetRepositoryPolicy", true},
		{"ECR:setrepositorypolicy", true},
		{"*", true},
		{"ecr:*", true},
		{"ecr:*Policy", true},
		{"ecr:*Repository*", true},
		{"ecr:?etRepositoryPolic?", true},
		{"e*r:s*t*y", true},
		{"**", true},
		{"ecr:SetRepositoryPolicy*", true},
		{"ecr:Set", false},
		{"ecr:SetRepositoryPolicyX", false},
		{"ecr:?SetRepositoryPolicy", false},
		{"ecr:*Image", false},
		{"ecr-public:*", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := wildcardMatch(tt.pattern, setPolicyAction); got != tt.want {
				t.Errorf("wildcardMatch(%q) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

// TestGuardLocksOut judges Denies against what the guard knows: the
// enforcer's own role and account, and what its calls carry for a
// condition key.
func TestGuardLocksOut(t *testing.T) {
	const (
		self  = "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"
		stop  = " would stop this account from setting the policy again; set force to apply it anyway"
		reads = " would stop this account from calling ecr:GetRepositoryPolicy; set force to apply it anyway"
	)
	known := Guard{SelfRoleARN: self}
	// synth is the guard at synth: no account, a role yet to be named.
	synth := Guard{SelfRoleNameGenerated: true}
	// session is the local CLI's guard: its caller is a session of the
	// role team/ops, whose path the session ARN does not give.
	session := Guard{AccountID: "123456789012", SelfRoleARN: "arn:aws:sts::123456789012:assumed-role/ops/me"}
	// withCaller is the CLI with --function: the function's role, and its
	// caller, a session of role team/ops.
	withCaller := Guard{AccountID: "123456789012", SelfRoleARN: self, CallerARN: "arn:aws:sts::123456789012:assumed-role/ops/me"}
	inRegion := known
	inRegion.Region = "eu-west-1"
	// member is a member account of an organisation, as the hub sees it.
	member := known.AsMember("aws", "ecr-baseline-member")
	// when denies ecr:* to everyone under a Condition, and holding is the
	// reason given when that Condition holds for the enforcer.
	when := func(sid, condition string) string {
		return `{"Sid":"` + sid + `","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":` + condition + `}`
	}
	holding := func(sid, keys string) []string {
		return []string{`statement "` + sid + `": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (` + keys + `)` + stop}
	}
	tests := []struct {
		name       string
		guard      Guard
		statements string
		want       []string
	}{
		{"Deny on another role of the account", known,
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}`, nil},
		{"Deny on another role, the enforcer's role unknown", Guard{},
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}`,
			[]string{`statement "NoCI": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/ci"]} without a Condition` + stop}},
		{"Deny naming the enforcer's role", known,
			`{"Sid":"NoMe","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"},"Action":"ecr:SetRepositoryPolicy"}`,
			[]string{`statement "NoMe": Deny ecr:setrepositorypolicy for {"AWS":["arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"]} without a Condition` + stop}},
		{"Deny naming a session of the enforcer's role", known,
			`{"Sid":"NoSession","Effect":"Deny","Principal":{"AWS":"arn:aws:sts::123456789012:assumed-role/ecrbaseline-enforcerrole/fn"},"Action":"ecr:GetRepositoryPolicy"}`,
			[]string{`statement "NoSession": Deny ecr:getrepositorypolicy for {"AWS":["arn:aws:sts::123456789012:assumed-role/ecrbaseline-enforcerrole/fn"]} without a Condition` + reads}},
		{"Deny on the account covers the enforcer", known,
			`{"Sid":"Acct","Effect":"Deny","Principal":{"AWS":"123456789012"},"Action":"ecr:GetRepositoryPolicy"}`,
			[]string{`statement "Acct": Deny ecr:getrepositorypolicy for {"AWS":["123456789012"]} without a Condition` + reads}},
		{"Deny on another account", known,
			`{"Sid":"Other","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:*"}`, nil},
		// IAM spares a session from a NotPrincipal Deny only when the
		// list names the session itself, which the guard does not know.
		{"NotPrincipal naming the enforcer's role does not spare its sessions", known,
			`{"Sid":"OnlyMe","Effect":"Deny","NotPrincipal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"]},"Action":"ecr:*"}`,
			[]string{`statement "OnlyMe": Deny ecr:* for everyone but {"AWS":["123456789012","arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"]} without a Condition` + stop}},
		{"NotPrincipal naming a session of the enforcer's role", known,
			`{"Sid":"OnlyMe","Effect":"Deny","NotPrincipal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole","arn:aws:sts::123456789012:assumed-role/EcrBaseline-EnforcerRole/other"]},"Action":"ecr:*"}`,
			[]string{`statement "OnlyMe": Deny ecr:* for everyone but {"AWS":["123456789012","arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole","arn:aws:sts::123456789012:assumed-role/EcrBaseline-EnforcerRole/other"]} without a Condition` + stop}},
		{"NotPrincipal everyone denies no one", known,
			`{"Sid":"NoOne","Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"ecr:*"}`, nil},

		// The local CLI with --function: the function's role and the
		// caller writing beside it must both keep their access.
		{"with a caller: Deny on another role", withCaller,
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}`, nil},
		{"with a caller: Deny on the caller's role", withCaller,
			`{"Sid":"NoOps","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/team/ops"},"Action":"ecr:GetRepositoryPolicy"}`,
			[]string{`statement "NoOps": Deny ecr:getrepositorypolicy for {"AWS":["arn:aws:iam::123456789012:role/team/ops"]} without a Condition` + reads}},
		{"with a caller: Deny on the function's role", withCaller,
			`{"Sid":"NoFn","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"},"Action":"ecr:*"}`,
			[]string{`statement "NoFn": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"]} without a Condition` + stop}},
		// Without --function the function's role is unknown, whoever calls.
		{"a caller, the function's role unknown: Deny on another role", Guard{AccountID: "123456789012", CallerARN: "arn:aws:sts::123456789012:assumed-role/ops/me"},
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}`,
			[]string{`statement "NoCI": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/ci"]} without a Condition` + stop}},
		{"a session: IgnoreCase names its role in any case", session,
			when("Upper", `{"StringEqualsIgnoreCase":{"aws:PrincipalArn":"ARN:AWS:IAM::123456789012:ROLE/OPS"}}`),
			holding("Upper", "StringEqualsIgnoreCase aws:principalarn")},

		// Keys every call carries, with values the guard can pin.
		{"Condition always true: after a date in the past", known,
			when("Since", `{"DateGreaterThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}`),
			holding("Since", "DateGreaterThan aws:currenttime")},
		{"Condition true until a date: a lock-out until then", known,
			when("Until", `{"DateLessThan":{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}`),
			holding("Until", "DateLessThan aws:currenttime")},
		{"Condition on the call's own region", inRegion,
			when("Here", `{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}`),
			holding("Here", "StringEquals aws:requestedregion")},
		{"Condition on every region but the call's own", inRegion,
			when("Elsewhere", `{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}`), nil},
		{"Condition on another region, which may be one the enforcer works in", inRegion,
			when("There", `{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}`),
			holding("There", "StringEquals aws:requestedregion")},
		// IAM matches an ARN part by part: a * spans no colon.
		{"ArnNotLike sparing the enforcer's role, all six parts", known,
			when("Spare", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/EcrBaseline-*"}}`), nil},
		{"ArnNotLike of three parts spares no one", known,
			when("Short", `{"ArnNotLike":{"aws:PrincipalArn":"arn:*:role/EcrBaseline-EnforcerRole"}}`),
			holding("Short", "ArnNotLike aws:principalarn")},

		// A member account, as the hub judges it in organisation mode.
		{"member: Deny on the member role in any account", member,
			`{"Sid":"NoMember","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/ecr-baseline-member"},"Action":"ecr:*"}`,
			[]string{`statement "NoMember": Deny ecr:* for {"AWS":["arn:aws:iam::111122223333:role/ecr-baseline-member"]} without a Condition` + stop}},
		{"member: Deny on a literal account may be on a member", member,
			`{"Sid":"Acct","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"ecr:*"}`,
			[]string{`statement "Acct": Deny ecr:* for {"AWS":["111122223333"]} without a Condition` + stop}},
		{"member: Deny on another role", member,
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"ecr:*"}`, nil},
		{"member: a Condition sparing only the hub's role", member,
			when("HubOnly", `{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"}}`),
			holding("HubOnly", "StringNotEquals aws:principalarn")},
		{"NotPrincipal sparing an admin only", known,
			`{"Sid":"OnlyAdmin","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"ecr:*"}`,
			[]string{`statement "OnlyAdmin": Deny ecr:* for everyone but {"AWS":["arn:aws:iam::123456789012:role/admin"]} without a Condition` + stop}},
		{"Condition always true: StringLike aws:PrincipalArn *", known,
			when("Like", `{"StringLike":{"aws:PrincipalArn":"*"}}`),
			holding("Like", "StringLike aws:principalarn")},
		{"Condition always true on a key the guard cannot judge", known,
			when("Vpce", `{"StringLikeIfExists":{"aws:SourceVpce":"**"}}`),
			holding("Vpce", "StringLikeIfExists aws:sourcevpce")},
		{"Condition on a key the guard cannot judge", known,
			when("Agent", `{"StringEquals":{"aws:UserAgent":"ci"}}`), nil},
		{"Condition SecureTransport true holds", known,
			when("Tls", `{"Bool":{"aws:SecureTransport":"true"}}`),
			holding("Tls", "Bool aws:securetransport")},
		{"Condition on another role", known,
			when("CI", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci"}}`), nil},
		{"Condition on another role, the enforcer's role unknown", Guard{},
			when("CI", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci"}}`),
			holding("CI", "ArnEquals aws:principalarn")},
		{"everyone but an admin, by Condition", known,
			when("Admin", `{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/admin"}}`),
			holding("Admin", "StringNotEquals aws:principalarn")},
		{"everyone but the enforcer, by Condition", known,
			when("NotMe", `{"StringNotLike":{"aws:PrincipalArn":["arn:aws:iam::123456789012:role/admin","arn:aws:iam::123456789012:role/EcrBaseline-*"]}}`), nil},
		{"other accounts only, by Condition", known,
			when("Foreign", `{"StringNotEquals":{"aws:PrincipalAccount":"123456789012"}}`), nil},
		{"Null asks for a key every call has", known,
			when("Null", `{"Null":{"aws:PrincipalArn":"false"}}`),
			holding("Null", "Null aws:principalarn")},
		{"an operator that does not apply to the key", known,
			when("Num", `{"NumericLessThan":{"aws:SecureTransport":"1"}}`), nil},
		{"Deny unless through a VPC endpoint: the enforcer runs outside any VPC", known,
			when("Vpce", `{"StringNotEquals":{"aws:SourceVpce":"vpce-1234"}}`),
			holding("Vpce", "StringNotEquals aws:sourcevpce")},
		{"Deny without MFA: role sessions carry none", known,
			when("Mfa", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`),
			holding("Mfa", "BoolIfExists aws:multifactorauthpresent")},
		{"Null asks for a key the enforcer's calls lack", known,
			when("NoVpc", `{"Null":{"aws:SourceVpc":"true"}}`),
			holding("NoVpc", "Null aws:sourcevpc")},
		{"Deny outside a network range: the enforcer calls from AWS addresses", known,
			when("Ip", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`),
			holding("Ip", "NotIpAddress aws:sourceip")},
		{"Deny on repositories without a tag", known,
			when("Tag", `{"StringNotLike":{"ecr:ResourceTag/x":"never"}}`),
			holding("Tag", "StringNotLike ecr:resourcetag/x")},
		{"a key compared with itself", known,
			when("Self", `{"StringEquals":{"aws:PrincipalOrgID":"${aws:PrincipalOrgID}"}}`),
			holding("Self", "StringEquals aws:principalorgid")},
		{"Deny only through a VPC endpoint: not the enforcer's calls", known,
			when("Vpce", `{"StringEquals":{"aws:SourceVpce":"vpce-1234"}}`), nil},
		{"Deny outside the organization: the enforcer is inside", known,
			when("Org", `{"StringNotEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}`), nil},
		{"one key of two may be false", known,
			when("Two", `{"StringLike":{"aws:PrincipalArn":"*"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), nil},
		{"a principal type the enforcer's role is not", known,
			when("Users", `{"StringEquals":{"aws:PrincipalType":"User"}}`), nil},
		{"a principal type, the enforcer unknown: it may be a user", Guard{},
			when("Users", `{"StringEquals":{"aws:PrincipalType":"User"}}`),
			holding("Users", "StringEquals aws:principaltype")},

		// At synth the role's name is generated at deploy: no literal ARN
		// names it, a pattern might, and the function judges again at load.
		{"synth: Deny on a role named literally", synth,
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":["arn:aws:iam::123456789012:role/ci","arn:aws:sts::123456789012:assumed-role/ci/build"]},"Action":"ecr:*"}`, nil},
		{"synth: Deny on a user", synth,
			`{"Sid":"NoBob","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"ecr:*"}`, nil},
		{"synth: Deny on the account", synth,
			`{"Sid":"Acct","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:*"}`,
			[]string{`statement "Acct": Deny ecr:* for {"AWS":["123456789012"]} without a Condition` + stop}},
		{"synth: Deny for everyone but a role named literally", synth,
			`{"Sid":"OnlyAdmin","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"ecr:*"}`,
			[]string{`statement "OnlyAdmin": Deny ecr:* for everyone but {"AWS":["arn:aws:iam::123456789012:role/admin"]} without a Condition` + stop}},
		{"synth: Condition on a role named literally", synth,
			when("CI", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci"}}`), nil},
		{"synth: StringEquals takes * as a character", synth,
			when("Star", `{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/*"}}`), nil},
		{"synth: Condition on a pattern of roles", synth,
			when("Roles", `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/*"}}`),
			holding("Roles", "StringLike aws:principalarn")},
		{"synth: Condition on a policy variable", synth,
			when("Tagged", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/${aws:PrincipalTag/name}"}}`),
			holding("Tagged", "ArnEquals aws:principalarn")},
		{"synth: everyone but a role named literally, by Condition", synth,
			when("Admin", `{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/admin"}}`),
			holding("Admin", "StringNotEquals aws:principalarn")},
		{"synth: Null asks for a key every call has", synth,
			when("Null", `{"Null":{"aws:PrincipalArn":"false"}}`),
			holding("Null", "Null aws:principalarn")},
		{"synth: the function is a role", synth,
			when("Users", `{"StringEquals":{"aws:PrincipalType":"User"}}`), nil},

		// The CLI's caller is a session: its role's name is known, its
		// path is not.
		{"session: Deny on another role", session,
			`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}`, nil},
		{"session: Deny on the caller's role, by its path", session,
			`{"Sid":"NoOps","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/team/ops"},"Action":"ecr:*"}`,
			[]string{`statement "NoOps": Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/team/ops"]} without a Condition` + stop}},
		{"session: Condition on another role", session,
			when("CI", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci"}}`), nil},
		{"session: Condition on the caller's role, its path unknown", session,
			when("Ops", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ops"}}`),
			holding("Ops", "ArnEquals aws:principalarn")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, `{"Version":"2012-10-17","Statement":[`+tt.statements+`]}`)
			if diff := cmp.Diff(tt.want, tt.guard.LocksOut(doc)); diff != "" {
				t.Errorf("LocksOut (-want +got):\n%s", diff)
			}
		})
	}
}
