package member

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
)

// stackSetProps are a hub's, with the bus and role as the hub's template
// would refer to them.
func stackSetProps(regions ...string) *StackSetProps {
	return &StackSetProps{
		OrganizationalUnitIDs: []string{"ou-ab12-cdefgh34", "ou-ab12-ijklmn56"},
		Regions:               regions,
		HubEventBusName:       jsii.String("EcrBaseline-Enforcer-members"),
		HubRoleARN:            jsii.String("arn:aws:iam::111122223333:role/EcrBaseline-EnforcerRole"),
		MemberRoleName:        "ecr-baseline-member",
		OrganizationID:        "o-abcdefghij",
		CallAs:                CallAsDelegatedAdmin,
	}
}

// maxTemplateBody is CloudFormation's limit on a TemplateBody.
const maxTemplateBody = 51200

// TestStackSetDeploysTheMemberTemplateToOUs: service-managed, deployed
// automatically to accounts that join the OUs, with the hub's outputs as
// parameters and the member role in the first region.
func TestStackSetDeploysTheMemberTemplateToOUs(t *testing.T) {
	for _, tc := range []struct {
		name             string
		regions          []string
		want, roleRegion string
	}{
		{"member regions", []string{"eu-west-1", "us-east-1"}, `["eu-west-1", "us-east-1"]`, `"eu-west-1"`},
		{"the hub's region", nil, `[{"Ref": "AWS::Region"}]`, `{"Ref": "AWS::Region"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := awscdk.NewStack(awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())}), jsii.String("Hub"), nil)
			set, err := NewStackSet(stack, "Members", stackSetProps(tc.regions...))
			if err != nil {
				t.Fatal(err)
			}
			var tmpl assertions.Template
			cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(stack, nil) })
			props := cdktest.FromAssertions(t, tmpl).Resource(t, "AWS::CloudFormation::StackSet", *stack.GetLogicalId(set))
			body, _ := props["TemplateBody"].(string)
			delete(props, "TemplateBody")
			diff(t, "StackSet", props, `{
				"StackSetName": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}, "-members"]]},
				"Description": "ecr-baseline members: forward repository events to the hub and let its function enforce the baseline",
				"PermissionModel": "SERVICE_MANAGED",
				"CallAs": "DELEGATED_ADMIN",
				"AutoDeployment": {"Enabled": true, "RetainStacksOnAccountRemoval": false},
				"Capabilities": ["CAPABILITY_NAMED_IAM"],
				"ManagedExecution": {"Active": true},
				"OperationPreferences": {"RegionConcurrencyType": "PARALLEL", "MaxConcurrentPercentage": 25, "FailureTolerancePercentage": 10},
				"Parameters": [
					{"ParameterKey": "HubAccountId", "ParameterValue": {"Ref": "AWS::AccountId"}},
					{"ParameterKey": "HubRegion", "ParameterValue": {"Ref": "AWS::Region"}},
					{"ParameterKey": "HubEventBusName", "ParameterValue": "EcrBaseline-Enforcer-members"},
					{"ParameterKey": "HubRoleArn", "ParameterValue": "arn:aws:iam::111122223333:role/EcrBaseline-EnforcerRole"},
					{"ParameterKey": "MemberRoleName", "ParameterValue": "ecr-baseline-member"},
					{"ParameterKey": "MemberRoleRegion", "ParameterValue": `+tc.roleRegion+`}
				],
				"StackInstancesGroup": [{
					"DeploymentTargets": {"OrganizationalUnitIds": ["ou-ab12-cdefgh34", "ou-ab12-ijklmn56"]},
					"Regions": `+tc.want+`
				}]
			}`)

			templateProps := &StackProps{OrganizationID: "o-abcdefghij", MemberRoleName: "ecr-baseline-member"}
			if len(tc.regions) > 0 {
				templateProps.MemberRoleRegion = tc.regions[0]
			}
			want, err := Template(templateProps)
			if err != nil {
				t.Fatal(err)
			}
			if body != want {
				t.Errorf("TemplateBody is not the member template:\n%s\nwant\n%s", body, want)
			}
			if len(body) > maxTemplateBody {
				t.Errorf("TemplateBody is %d bytes, CloudFormation takes at most %d", len(body), maxTemplateBody)
			}
			t.Logf("member template: %d bytes", len(body))
		})
	}
}

// TestTemplateIsTheMemberStack: Template is what NewStack synthesizes.
func TestTemplateIsTheMemberStack(t *testing.T) {
	props := &StackProps{OrganizationID: "o-abcdefghij", MemberRoleRegion: "eu-west-1"}
	text, err := Template(props)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]any(synthesize(t, props).json), got); d != "" {
		t.Errorf("Template differs from the synthesized stack (-stack +Template):\n%s", d)
	}
}

func TestNewStackSetRejectsBadProps(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())}), jsii.String("Hub"), nil)
	for _, tc := range []struct {
		name   string
		change func(*StackSetProps)
		want   string
	}{
		{"no OUs", func(p *StackSetProps) { p.OrganizationalUnitIDs = nil },
			"OrganizationalUnitIDs are required: a service-managed StackSet deploys to the accounts of OUs"},
		{"no bus", func(p *StackSetProps) { p.HubEventBusName = nil },
			"HubEventBusName and HubRoleARN are required (the Enforcer's EventBus and function role, in organisation mode)"},
		{"no role name", func(p *StackSetProps) { p.MemberRoleName = "" }, "MemberRoleName is required (the hub's memberRoleName setting)"},
		{"no organisation", func(p *StackSetProps) { p.OrganizationID = "" }, "OrganizationID is required (the hub's organizationId setting)"},
		{"bad CallAs", func(p *StackSetProps) { p.CallAs = "self" },
			`CallAs must be SELF (the hub is the management account) or DELEGATED_ADMIN (a delegated administrator of StackSets), got "self"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stackSetProps()
			tc.change(p)
			set, err := NewStackSet(stack, "Members", p)
			if err == nil || set != nil {
				t.Fatalf("NewStackSet = %v, %v; want an error", set, err)
			}
			if want := "member StackSet Members: " + tc.want; err.Error() != want {
				t.Errorf("error %q\nwant      %q", err, want)
			}
		})
	}
	if _, err := NewStackSet(stack, "Members", nil); err == nil || err.Error() != "member StackSet Members: props are required" {
		t.Errorf("nil props: error %v", err)
	}
}
