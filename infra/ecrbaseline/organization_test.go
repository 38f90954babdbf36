package ecrbaseline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestSingleAccountHasNoOrganisation: with no organisation settings there
// is no bus and no permission beyond the account (the exact resources and
// statements of that stack are tested above).
func TestSingleAccountHasNoOrganisation(t *testing.T) {
	s := defaults(t)
	if s.enforcer.EventBus != nil || s.enforcer.EventBusRule != nil {
		t.Errorf("EventBus %v, EventBusRule %v: want none outside organisation mode", s.enforcer.EventBus, s.enforcer.EventBusRule)
	}
	if ids := s.json.LogicalIDs("AWS::Events::EventBus"); len(ids) != 0 {
		t.Errorf("event buses %v in a single account's stack", ids)
	}
	granted := fmt.Sprint(s.json.Resource(t, "AWS::IAM::Policy", s.json.LogicalIDs("AWS::IAM::Policy")[0]))
	for _, service := range []string{"sts:", "organizations:"} {
		if strings.Contains(granted, service) {
			t.Errorf("the single-account stack's role may call %s", service)
		}
	}
}

// partitionARN is "arn:${Partition}" followed by rest, as CDK joins it.
func partitionARN(rest string) string {
	return `{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ` + rest + `]]}`
}

// ownARN is arn:${Partition}:service:region:${Account}:resource.
func ownARN(service, region, resource string) string {
	return partitionARN(`":` + service + `:` + region + `:", {"Ref": "AWS::AccountId"}, ":` + resource + `"`)
}

// hubARN is ownARN in the stack's own region.
func hubARN(service, resource string) string {
	return partitionARN(`":` + service + `:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":` + resource + `"`)
}

// TestOrganisationHub checks, for each way of saying who the members are,
// the bus's policy and every statement the role gains, exactly: the hub
// may put nothing on other buses and assume nothing but the member role.
func TestOrganisationHub(t *testing.T) {
	const (
		org     = "o-abcdefghij"
		ou      = "ou-ab12-cdefgh34"
		busName = "Test-Enforcer-members"
	)
	accountRoles := `[` + partitionARN(`":iam::111122223333:role/ecr-baseline-member"`) + `, ` +
		partitionARN(`":iam::444455556666:role/ecr-baseline-member"`) + `]`
	accountPrincipals := `{"AWS": [` + partitionARN(`":iam::111122223333:root"`) + `, ` + partitionARN(`":iam::444455556666:root"`) + `]}`
	inOrg := func(key string) string { return `"Condition": {"StringEquals": {"` + key + `": "` + org + `"}},` }
	describeOrganization := `{"Sid": "DescribeOrganization", "Effect": "Allow", "Action": "organizations:DescribeOrganization", "Resource": "*"}`
	for _, tc := range []struct {
		name     string
		settings map[string]string
		// busPolicy is the bus's policy statement but for Sid, Action,
		// Effect and Resource, which are always the same.
		busPolicy string
		// statements are the role's statements in organisation mode.
		statements string
	}{
		{"organizational units", map[string]string{"memberOrganizationalUnits": ou, "organizationId": org, "memberRegions": "eu-west-1,us-east-1"},
			inOrg("aws:PrincipalOrgID") + `"Principal": {"AWS": "*"}`,
			`{"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole", ` + inOrg("aws:ResourceOrgID") + `
			  "Resource": ` + partitionARN(`":iam::*:role/ecr-baseline-member"`) + `},
			 {"Sid": "ListMemberAccounts", "Effect": "Allow",
			  "Action": ["organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"],
			  "Resource": ` + partitionARN(`":organizations::*:ou/`+org+`/ou-*"`) + `},
			 ` + describeOrganization + `,
			 {"Sid": "EnforceMemberRegions", "Effect": "Allow",
			  "Action": ["ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:ListTagsForResource", "ecr:DescribeRepositories"],
			  "Resource": [` + ownARN("ecr", "eu-west-1", "repository/*") + `, ` + ownARN("ecr", "us-east-1", "repository/*") + `]}`},
		{"the whole organisation", map[string]string{"memberOrganizationalUnits": "r-ab12", "organizationId": org},
			inOrg("aws:PrincipalOrgID") + `"Principal": {"AWS": "*"}`,
			`{"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole", ` + inOrg("aws:ResourceOrgID") + `
			  "Resource": ` + partitionARN(`":iam::*:role/ecr-baseline-member"`) + `},
			 {"Sid": "ListMemberAccounts", "Effect": "Allow",
			  "Action": ["organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"],
			  "Resource": [` + partitionARN(`":organizations::*:ou/`+org+`/ou-*"`) + `, ` + partitionARN(`":organizations::*:root/`+org+`/r-*"`) + `]},
			 ` + describeOrganization},
		{"accounts", map[string]string{"memberAccounts": "111122223333,444455556666"},
			`"Principal": ` + accountPrincipals,
			`{"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ` + accountRoles + `}`},
		{"accounts of an organisation, another role name", map[string]string{
			"memberAccounts": "111122223333", "organizationId": org, "memberRoleName": "platform-ecr"},
			inOrg("aws:PrincipalOrgID") + `"Principal": {"AWS": ` + partitionARN(`":iam::111122223333:root"`) + `}`,
			`{"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole", ` + inOrg("aws:ResourceOrgID") + `
			  "Resource": ` + partitionARN(`":iam::111122223333:role/platform-ecr"`) + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synthesize(t, func(awscdk.Stack) *EnforcerProps {
				return &EnforcerProps{PolicyText: jsii.String(policies.Baseline), Settings: tc.settings}
			})
			if s.err != nil {
				t.Fatal(s.err)
			}
			e := s.enforcer
			busID := cdktest.LogicalID(e.EventBus)
			diff(t, "event bus", s.json.Resource(t, "AWS::Events::EventBus", busID), `{
				"Name": "`+busName+`",
				"Description": "ecr-baseline: repository events forwarded by member accounts",
				"Policy": {"Version": "2012-10-17", "Statement": [{"Sid": "MembersPutEvents", "Effect": "Allow",
					"Action": "events:PutEvents", "Resource": `+hubARN("events", "event-bus/"+busName)+`, `+tc.busPolicy+`}]}
			}`)

			pol := s.json.Resource(t, "AWS::IAM::Policy", s.json.LogicalIDs("AWS::IAM::Policy")[0])
			statements := pol["PolicyDocument"].(map[string]any)["Statement"].([]any)
			// The single-account stack's eight come first.
			diff(t, "organisation statements", statements[8:], `[`+tc.statements+`]`)

			cfg := loadEnvironment(t, s, envconfig.ParameterName.Default)
			want, _, err := envconfig.Resolve(func(st *envconfig.Setting) (string, string, bool) {
				v, ok := tc.settings[st.Context]
				return v, st.Context, ok && st.Context != ""
			})
			if err != nil {
				t.Fatal(err)
			}
			got := envconfig.Config{MemberAccounts: cfg.MemberAccounts, MemberOrganizationalUnits: cfg.MemberOrganizationalUnits,
				MemberRegions: cfg.MemberRegions, MemberRoleName: cfg.MemberRoleName, OrganizationID: cfg.OrganizationID}
			want = envconfig.Config{MemberAccounts: want.MemberAccounts, MemberOrganizationalUnits: want.MemberOrganizationalUnits,
				MemberRegions: want.MemberRegions, MemberRoleName: want.MemberRoleName, OrganizationID: want.OrganizationID}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("the function's organisation settings (-want +got):\n%s", d)
			}
		})
	}
}

// TestMemberEventsReachTheFunctionLikeTheAccountsOwn: the bus's rule has
// the repository rule's pattern, and delivers to the function with the
// same retries and dead-letter queue, which accepts it.
func TestMemberEventsReachTheFunctionLikeTheAccountsOwn(t *testing.T) {
	s := organisationHub(t)
	e := s.enforcer
	own := s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(e.Rule))
	ruleID := cdktest.LogicalID(e.EventBusRule)
	members := s.json.Resource(t, "AWS::Events::Rule", ruleID)
	if d := cmp.Diff(own["EventPattern"], members["EventPattern"]); d != "" {
		t.Errorf("bus rule pattern differs from the repository rule's (-own +bus):\n%s", d)
	}
	if d := cmp.Diff(own["Targets"], members["Targets"]); d != "" {
		t.Errorf("bus rule targets differ from the repository rule's (-own +bus):\n%s", d)
	}
	diff(t, "bus rule", map[string]any{"EventBusName": members["EventBusName"], "Description": members["Description"]}, `{
		"EventBusName": `+ref(cdktest.LogicalID(e.EventBus))+`,
		"Description": "ecr-baseline: repository events forwarded by member accounts"
	}`)

	var permitted, deadLetters bool
	for _, id := range s.json.LogicalIDs("AWS::Lambda::Permission") {
		p := s.json.Resource(t, "AWS::Lambda::Permission", id)
		permitted = permitted || cmp.Equal(p["SourceArn"], cdktest.JSON(t, getAtt(ruleID, "Arn")))
	}
	for _, id := range s.json.LogicalIDs("AWS::SQS::QueuePolicy") {
		doc := s.json.Resource(t, "AWS::SQS::QueuePolicy", id)["PolicyDocument"]
		deadLetters = deadLetters || strings.Contains(fmt.Sprint(doc), ruleID)
	}
	if !permitted || !deadLetters {
		t.Errorf("bus rule may invoke the function: %v; may send to the dead-letter queue: %v; want both", permitted, deadLetters)
	}
	cdktest.Check(t, func() {
		for typ, n := range map[string]float64{"AWS::Events::EventBus": 1, "AWS::Events::Rule": 4, "AWS::Lambda::Permission": 4} {
			s.tmpl.ResourceCountIs(&typ, &n)
		}
	})
}

// TestRulePropsApplyToTheMemberRule: RuleProps, which overrides every
// rule, covers the member bus's rule too, so Enabled false stops the
// members' events as well as the account's own.
func TestRulePropsApplyToTheMemberRule(t *testing.T) {
	s := synthesize(t, func(awscdk.Stack) *EnforcerProps {
		return &EnforcerProps{PolicyText: jsii.String(policies.Baseline), Settings: hubSettings(),
			RuleProps: &awsevents.RuleProps{Enabled: jsii.Bool(false)}}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	e := s.enforcer
	for _, r := range []awsevents.Rule{e.Rule, e.BaselineChangeRule, e.ReconcileRule, e.EventBusRule} {
		diff(t, cdktest.LogicalID(r)+" state", s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(r))["State"], `"DISABLED"`)
	}
}

// TestOrganisationOutputs: the member stacks are deployed with these.
func TestOrganisationOutputs(t *testing.T) {
	s := organisationHub(t)
	outputs := s.json["Outputs"].(map[string]any)
	diff(t, "organisation outputs", map[string]any{
		"EnforcerEventBusName": outputs["EnforcerEventBusName"], "EnforcerEventBusArn": outputs["EnforcerEventBusArn"],
		"EnforcerRoleArn": outputs["EnforcerRoleArn"],
	}, `{
		"EnforcerEventBusName": {"Description": "ecr-baseline: the event bus member accounts forward repository events to (member template parameter HubEventBusName)",
			"Value": `+ref(cdktest.LogicalID(s.enforcer.EventBus))+`},
		"EnforcerEventBusArn": {"Description": "ecr-baseline: the event bus member accounts forward repository events to",
			"Value": `+getAtt(cdktest.LogicalID(s.enforcer.EventBus), "Arn")+`},
		"EnforcerRoleArn": {"Description": "ecr-baseline: the function's role, which the member role trusts (member template parameter HubRoleArn)",
			"Value": `+getAtt(cdktest.LogicalID(s.enforcer.Function.Role()), "Arn")+`}
	}`)
	if len(outputs) != 12 {
		t.Errorf("%d outputs, want the nine of a single account and three", len(outputs))
	}
}

// hubSettings make a hub with OUs.
func hubSettings() map[string]string {
	return map[string]string{"memberOrganizationalUnits": "ou-ab12-cdefgh34", "organizationId": "o-abcdefghij"}
}

// organisationHub is a hub with OUs.
var organisationHub = shared("organisation hub", func(awscdk.Stack) *EnforcerProps {
	return &EnforcerProps{PolicyText: jsii.String(policies.Baseline), Settings: hubSettings()}
})

func TestOrganisationSettingsCheckedAtSynth(t *testing.T) {
	stack := newStack(t.TempDir())
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"OUs without the organisation", map[string]string{"memberOrganizationalUnits": "ou-ab12-cdefgh34"},
			`Settings["organizationId"] is required with Settings["memberOrganizationalUnits"]: the accounts of an OU are only known ` +
				`at run time, so the event bus and the member roles are limited to the organisation`},
		{"not an organisation", map[string]string{"memberAccounts": "111122223333", "organizationId": "r-abcd"},
			`Settings["organizationId"] must be an organization ID (o- and 10 to 32 lowercase letters or digits), got "r-abcd"`},
		{"not a role name", map[string]string{"memberAccounts": "111122223333", "memberRoleName": "ecr baseline"},
			`Settings["memberRoleName"] must be an IAM role name (1 to 64 letters, digits or +=,.@_-), got "ecr baseline"`},
		{"regions without members", map[string]string{"memberRegions": "eu-west-1"},
			`Settings["memberRegions"] is set, but neither Settings["memberAccounts"] nor Settings["memberOrganizationalUnits"]: ` +
				`the function enforces in its own account and region only`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, stack, &EnforcerProps{
				PolicyText: jsii.String(policies.Baseline), CodePath: jsii.String(codePath), Settings: tc.settings,
			}, tc.want)
		})
	}
	if n := len(*stack.Node().Children()); n != 0 {
		t.Errorf("stack has %d children after failed NewEnforcer calls, want none", n)
	}
}
