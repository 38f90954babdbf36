package policy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestGuardCheck is every refusal of a baseline at load and synth, each with
// the exact message, and the baselines the guard lets through.
func TestGuardCheck(t *testing.T) {
	const (
		self    = "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"
		exposes = "baseline would grant access outside this account: "
		public  = " would make every repository public; scope it with a StringEquals aws:PrincipalOrgID condition on an organization in allowedPrincipals, or set allowPublic"
		invalid = "invalid repository policy: "
		known   = " (known: ${AccountId}, ${Region}, ${RepositoryName}, ${RepositoryArn} and IAM's ${aws:...})"
		empty   = "baseline rendered for a 256-character repository name: invalid repository policy: "
	)
	account := Guard{AccountID: "123456789012", Region: "eu-west-1", SelfRoleARN: self}
	withOrg := account
	withOrg.AllowedPrincipals = []string{"444455556666", "o-abcdefghij"}
	open := account
	open.AllowPublic = true
	forced := account
	forced.Force = true
	// synth is the guard at synth: no account, a role yet to be named.
	synth := Guard{SelfRoleNameGenerated: true}
	// listed allows the placeholder's ID, the account unknown.
	listed := Guard{AllowedPrincipals: []string{"123456789012"}}
	stmt := func(s ...string) string {
		text := `{"Version":"2012-10-17","Statement":[`
		for i, x := range s {
			if i > 0 {
				text += ","
			}
			text += x
		}
		return text + `]}`
	}
	tests := []struct {
		name     string
		guard    Guard
		template string
		wantIs   error
		want     string
	}{
		// Exposure.
		{"Allow to *", account, stmt(`{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}`),
			ErrExposes, exposes + `statement "Open": Allow to "*"` + public},
		{`Allow to {"AWS":"*"}, no Sid`, account, stmt(policyDeny, `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement 2: Allow to {"AWS":["*"]}` + public},
		{"Allow to everyone but one", account, stmt(`{"Sid":"AllBut","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:*"}`),
			ErrExposes, exposes + `statement "AllBut": Allow to everyone but {"AWS":["123456789012"]}` + public},
		{"Allow to another account", account, stmt(`{"Sid":"Push","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::${AccountId}:role/ci","777788889999"]},"Action":["ecr:PutImage","ecr:SetRepositoryPolicy"]}`),
			ErrExposes, exposes + `statement "Push": Allow to 444455556666, 777788889999, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"Allow to another account, listed", withOrg, stmt(`{"Sid":"Push","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/ci"},"Action":"ecr:PutImage"}`), nil, ""},
		{"Allow to a federated principal", account, stmt(`{"Sid":"Fed","Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement "Fed": Allow to cognito-identity.amazonaws.com, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"Allow to a service for this account", account, stmt(`{"Sid":"Lambda","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:${Region}:${AccountId}:function:*"}}}`), nil, ""},
		{"Allow to a service for any account", account, stmt(`{"Sid":"Lambda","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement "Lambda": Allow to service lambda.amazonaws.com without an aws:SourceAccount or aws:SourceArn condition on this account would let it act for any account; add StringEquals aws:SourceAccount ${AccountId}`},
		{"Allow to a service for another account", account, stmt(`{"Sid":"Build","Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:SourceAccount":"444455556666"}}}`),
			ErrExposes, exposes + `statement "Build": Allow to service codebuild.amazonaws.com without an aws:SourceAccount or aws:SourceArn condition on this account would let it act for any account; add StringEquals aws:SourceAccount ${AccountId}`},
		{"Allow to every service", account, stmt(`{"Sid":"Any","Effect":"Allow","Principal":{"Service":"*"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:SourceAccount":"${AccountId}"}}}`),
			ErrExposes, exposes + `statement "Any": Allow to every service ("Service": "*") would let any service act for any account on every repository; name the service and scope it with aws:SourceAccount`},
		{"Allow to * in a listed organization", withOrg, stmt(`{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}}`), nil, ""},
		{"Allow to * in an organization not listed", withOrg, stmt(`{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-abcdefghij","o-zzzzzzzzzz"]}}}`),
			ErrExposes, exposes + `statement "Org": Allow to "*"` + public},
		{"Allow to * if in an organization, IfExists", withOrg, stmt(`{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abcdefghij"}}}`),
			ErrExposes, exposes + `statement "Org": Allow to "*"` + public},
		{"Allow to * of this account, by Condition", account, stmt(`{"Sid":"Acct","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}}`), nil, ""},
		{"Allow to * with another Condition", account, stmt(`{"Sid":"Ip","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`),
			ErrExposes, exposes + `statement "Ip": Allow to "*"` + public},
		{"Allow to * acknowledged", open, stmt(`{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}`), nil, ""},
		{"a literal account is judged once the account is known", Guard{}, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement "Pull": Allow to 111122223333, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"the account from the role", Guard{SelfRoleARN: "arn:aws:iam::111122223333:role/r"}, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}`), nil, ""},

		// The account unknown (synth): only what ${AccountId} renders to
		// is the account's own, never a literal ID, the placeholder's
		// included.
		{"the account unknown: ${AccountId} is own", synth, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::${AccountId}:root","arn:aws:iam::${AccountId}:role/ci"]},"Action":"ecr:BatchGetImage"}`), nil, ""},
		{"the account unknown: a literal placeholder is not", synth, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::${AccountId}:root","123456789012","arn:aws:iam::123456789012:role/ci","111122223333"]},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement "Pull": Allow to 111122223333, 123456789012, arn:aws:iam::123456789012:role/ci, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"the account unknown: a literal placeholder written with escapes", synth, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"\u0031\u0032\u0033456789012"},"Action":"ecr:BatchGetImage"}`),
			ErrExposes, exposes + `statement "Pull": Allow to 123456789012, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"the account unknown: a literal placeholder, listed", listed, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:BatchGetImage"}`), nil, ""},
		{"the account unknown: * of this account, by Condition", synth, stmt(`{"Sid":"Acct","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalAccount":"${AccountId}"}}}`), nil, ""},
		{"the account unknown: * of a literal account, by Condition", synth, stmt(`{"Sid":"Acct","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}}`),
			ErrExposes, exposes + `statement "Acct": Allow to "*"` + public},
		{"the account unknown: a service for a literal account", synth, stmt(`{"Sid":"Build","Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}`),
			ErrExposes, exposes + `statement "Build": Allow to service codebuild.amazonaws.com without an aws:SourceAccount or aws:SourceArn condition on this account would let it act for any account; add StringEquals aws:SourceAccount ${AccountId}`},
		{"the account unknown: a service for this account", synth, stmt(`{"Sid":"Build","Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:SourceAccount":"${AccountId}"}}}`), nil, ""},
		{"the account unknown: a Deny on a literal account may be this one", synth, stmt(`{"Sid":"Acct","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"ecr:*"}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "Acct": Deny ecr:* for {"AWS":["111122223333"]} without a Condition would stop this account from setting the policy again; set force to apply it anyway`},

		{"the account unknown: a Deny outside the account by Condition", synth, stmt(`{"Sid":"Outside","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"${AccountId}"}}}`), nil, ""},
		{"the account unknown: a Deny inside the account by Condition", synth, stmt(`{"Sid":"Inside","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalAccount":"${AccountId}"}}}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "Inside": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringEquals aws:principalaccount) would stop this account from setting the policy again; set force to apply it anyway`},
		{"the account unknown: a Condition on a literal account may be this one", synth, stmt(`{"Sid":"Literal","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "Literal": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringNotEquals aws:principalaccount) would stop this account from setting the policy again; set force to apply it anyway`},

		{"the region unknown: a literal region, even the made-up one, may be the function's", synth,
			stmt(`{"Sid":"Here","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"ap-southeast-77"}}}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "Here": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringNotEquals aws:requestedregion) would stop this account from setting the policy again; set force to apply it anyway`},
		{"the region known: a Deny outside it", account,
			stmt(`{"Sid":"Here","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}`), nil, ""},

		// At synth the function's role has no name yet (see TestGuardLocksOut).
		{"synth: Deny on another role", synth, stmt(`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci"},"Action":"ecr:*"}`), nil, ""},
		{"synth: Deny on a pattern of roles", synth, stmt(`{"Sid":"Roles","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::${AccountId}:role/*"}}}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "Roles": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringLike aws:principalarn) would stop this account from setting the policy again; set force to apply it anyway`},

		// Lock-out, judged at load for this account.
		{"lock-out", account, stmt(`{"Sid":"NoReads","Effect":"Deny","Principal":"*","Action":["ecr:GetRepositoryPolicy","ecr:ListTagsForResource"]}`),
			ErrLockOut, `policy would lock this account out of setting the repository policy: statement "NoReads": Deny ecr:getrepositorypolicy, ecr:listtagsforresource for "*" without a Condition would stop this account from calling ecr:GetRepositoryPolicy, ecr:ListTagsForResource; set force to apply it anyway`},
		{"lock-out, forced", forced, stmt(`{"Sid":"NoReads","Effect":"Deny","Principal":"*","Action":"ecr:*"}`), nil, ""},
		{"Deny on another role", account, stmt(`{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci"},"Action":"ecr:*"}`), nil, ""},
		{"exposure and lock-out together", account, stmt(`{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}`, `{"Effect":"Deny","Principal":"*","Action":"ecr:*"}`),
			ErrLockOut, exposes + `statement "Open": Allow to "*"` + public + "\n" +
				`policy would lock this account out of setting the repository policy: statement 2: Deny ecr:* for "*" without a Condition would stop this account from setting the policy again; set force to apply it anyway`},
		{"key collision for this account only", Guard{AccountID: "111122223333"}, stmt(`{"Sid":"Tag","Effect":"Deny","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:ResourceTag/${AccountId}":"x","aws:ResourceTag/111122223333":"y"}}}`),
			ErrInvalid, `baseline rendered for this account: invalid repository policy: keys "aws:ResourceTag/${AccountId}" and "aws:ResourceTag/111122223333" are the same once rendered`},

		// Text encoding/json accepts but a baseline must not hold.
		{"unknown variable", account, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountID}:root"},"Action":"ecr:BatchGetImage"}`),
			ErrInvalid, invalid + "unknown variable ${AccountID} at /Statement/0/Principal/AWS" + known},
		{"unknown variable in a key, unterminated variable", account, stmt(`{"Sid":"Tag${Foo}","Effect":"Deny","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:ResourceTag/${Team":"${aws:PrincipalTag/team}"}}}`),
			ErrInvalid, invalid + "unknown variable ${Foo} at /Statement/0/Sid" + known + "\nunterminated variable ${Team at /Statement/0/Condition/StringEquals/aws:ResourceTag/${Team"},
		{"duplicate key", account, `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Deny","Effect":"Allow","Principal":{"AWS":"${AccountId}"},"Action":"ecr:BatchGetImage"}]}`,
			ErrInvalid, invalid + `key "Effect" appears twice at /Statement/0; JSON keeps only the last`},
		{"duplicate top-level key", account, `{"Version":"2012-10-17","Version":"2008-10-17","Statement":[` + policyDeny + `]}`,
			ErrInvalid, invalid + `key "Version" appears twice at /; JSON keeps only the last`},
		{"invisible format character", account, stmt(`{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci\u202e"},"Action":"ecr:BatchGetImage"}`),
			ErrInvalid, invalid + "control character U+202E in a string at /Statement/0/Principal/AWS"},
		{"control character", account, stmt(`{"Sid":"Pull\u0007","Effect":"Allow","Principal":{"AWS":"${AccountId}"},"Action":"ecr:BatchGetImage"}`),
			ErrInvalid, invalid + "control character U+0007 in a string at /Statement/0/Sid"},
		{"infinite number", account, stmt(`{"Sid":"Big","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"NumericGreaterThan":{"ecr:ImageCount":1e999}}}`),
			ErrInvalid, invalid + "number 1e999 at /Statement/0/Condition/NumericGreaterThan/ecr:ImageCount is beyond what a float64 holds"},
		{"empty principal list", account, stmt(`{"Sid":"Nobody","Effect":"Allow","Principal":{"AWS":[]},"Action":"ecr:BatchGetImage"}`),
			ErrInvalid, empty + `statement "Nobody": Principal "AWS" lists no one`},
		{"empty principal", account, stmt(`{"Sid":"Blank","Effect":"Deny","NotPrincipal":{"AWS":["","${AccountId}"]},"Action":"ecr:*"}`),
			ErrInvalid, empty + `statement "Blank": NotPrincipal "AWS" has an empty identifier`},
		{"no principal type", account, stmt(`{"Sid":"None","Effect":"Allow","Principal":{},"Action":"ecr:BatchGetImage"}`),
			ErrInvalid, empty + `statement "None": Principal names no principal type`},

		// The guard's own options.
		{"allowed principal neither account nor organization", Guard{AllowedPrincipals: []string{"arn:aws:iam::444455556666:root", "o-abcdefghij"}}, policies.Baseline,
			nil, `baseline guard: allowed principal "arn:aws:iam::444455556666:root" is neither a 12-digit account ID nor an organization ID (o-...)`},
		{"account not an account ID", Guard{AccountID: "${Token[AWS.AccountId.7]}"}, policies.Baseline,
			nil, `baseline guard: account "${Token[AWS.AccountId.7]}" is not a 12-digit account ID`},
		{"self role not a role", Guard{SelfRoleARN: "arn:aws:iam::123456789012:user/me"}, policies.Baseline,
			nil, `baseline guard: self role "arn:aws:iam::123456789012:user/me" is not an IAM role ARN`},

		{"the project's baseline", account, policies.Baseline, nil, ""},
		{"the project's baseline, nothing known", Guard{}, policies.Baseline, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.guard.Check(tt.template)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check error (-want +got):\n%s", diff)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Check error = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

// policyDeny is a statement every guard accepts.
const policyDeny = `{"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`

// TestCheckAsMember: the hub judges the baseline as every member account
// sees it, where the enforcer is the member role, created without a path,
// in whichever account ${AccountId} renders to. An exception for it by
// its ARN or by the account passes; a Deny that holds for it is refused.
func TestCheckAsMember(t *testing.T) {
	const (
		hub    = "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"
		lock   = `as a member account sees it: policy would lock this account out of setting the repository policy: statement "X": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (`
		forced = `) would stop this account from setting the policy again; set force to apply it anyway`
	)
	guard := Guard{AccountID: "123456789012", Region: "eu-west-1", Regions: []string{"us-east-1"}, SelfRoleARN: hub}
	deny := func(condition string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"X","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":` + condition + `}]}`
	}
	for _, tt := range []struct {
		name, condition, want string
	}{
		{"an exception for the member role by a pattern of its ARN",
			`{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/ecr-baseline-member","` + hub + `"]}}`, ""},
		{"an exception for the member role by its rendered ARN",
			`{"StringNotEquals":{"aws:PrincipalArn":["arn:aws:iam::${AccountId}:role/ecr-baseline-member","` + hub + `"]}}`, ""},
		{"an exception for the hub's role alone",
			`{"StringNotEquals":{"aws:PrincipalArn":"` + hub + `"}}`, lock + "StringNotEquals aws:principalarn" + forced},
		{"an exception for the member role in one account",
			`{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/ecr-baseline-member"}}`, lock + "StringNotEquals aws:principalarn" + forced},
		{"a Deny outside the member's account and one more",
			`{"StringNotEquals":{"aws:PrincipalAccount":["${AccountId}","111122223333"]}}`, ""},
		{"a Deny outside one literal account, which may not be the member's",
			`{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}`, lock + "StringNotEquals aws:principalaccount" + forced},
		{"a Deny outside the call's own region and one more",
			`{"StringNotEquals":{"aws:RequestedRegion":["${Region}","us-east-1"]}}`, ""},
		{"a Deny outside one of the member regions",
			`{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}`, lock + "StringNotEquals aws:requestedregion" + forced},
		{"a Deny outside every member region",
			`{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}`, ""},
		{"an exception for the member role in some accounts only",
			`{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::1*:role/ecr-baseline-member","` + hub + `"]}}`, lock + "ArnNotLike aws:principalarn" + forced},
		{"exceptions for the member role in some accounts each",
			`{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::0*:role/ecr-baseline-member","arn:aws:iam::1*:role/ecr-baseline-member","` + hub + `"]}}`, lock + "ArnNotLike aws:principalarn" + forced},
		{"exceptions by digits anywhere",
			`{"StringNotLike":{"aws:PrincipalArn":["*0*","*1*"]}}`, lock + "StringNotLike aws:principalarn" + forced},
		{"a Deny on the member role in one account",
			`{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::444455556666:role/ecr-baseline-member"}}`, lock + "StringEquals aws:principalarn" + forced},
		{"a Deny on the member role in some accounts",
			`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::5*:role/ecr-baseline-member"}}`, lock + "ArnLike aws:principalarn" + forced},
		{"a Deny on roles whose ARN holds some digits",
			`{"StringLike":{"aws:PrincipalArn":"*7777*"}}`, lock + "StringLike aws:principalarn" + forced},
		{"a Deny on every user", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, ""},
		{"a Deny on other roles by a pattern", `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/developers-*"}}`, ""},
		{"a Deny on every repository but the hub's account's",
			`{"StringNotEquals":{"aws:ResourceAccount":"123456789012"}}`, lock + "StringNotEquals aws:resourceaccount" + forced},
		{"a Deny on every repository but the member's own",
			`{"StringNotEquals":{"aws:ResourceAccount":"${AccountId}"}}`, ""},
		{"credentials issued after a date",
			`{"DateGreaterThan":{"aws:TokenIssueTime":"2000-01-01T00:00:00Z"}}`, lock + "DateGreaterThan aws:tokenissuetime" + forced},
		{"an exception by \"*\" alone, which IAM may read as one ARN part",
			`{"ArnNotLike":{"aws:PrincipalArn":"*"}}`, lock + "ArnNotLike aws:principalarn" + forced},
		{"a Deny on \"*\" alone",
			`{"ArnLike":{"aws:PrincipalArn":"*"}}`, lock + "ArnLike aws:principalarn" + forced},
		{"only through a service: the enforcer calls directly",
			`{"Null":{"aws:CalledVia":"true"}}`, lock + "Null aws:calledvia" + forced},
		{"AWS's network perimeter: direct calls from outside a VPC",
			`{"NotIpAddressIfExists":{"aws:SourceIp":"203.0.113.0/24"},"StringNotEqualsIfExists":{"aws:SourceVpc":"vpc-12345678"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false","aws:ViaAWSService":"false"}}`,
			lock + "BoolIfExists aws:principalisawsservice, BoolIfExists aws:viaawsservice, NotIpAddressIfExists aws:sourceip, StringNotEqualsIfExists aws:sourcevpc" + forced},
		{"a call through an AWS service only",
			`{"Bool":{"aws:ViaAWSService":"true"}}`, ""},
		{"untagged calls: ForAllValues over no tag keys holds",
			`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["team"]}}`, lock + "ForAllValues:StringNotEquals aws:tagkeys" + forced},
		{"a role without the principal tag",
			`{"StringNotEquals":{"aws:PrincipalTag/team":"platform"}}`, lock + "StringNotEquals aws:principaltag/team" + forced},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := guard.CheckAsMember(deny(tt.condition), "aws", "ecr-baseline-member"); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckAsMember error (-want +got):\n%s", diff)
			}
		})
	}
}
