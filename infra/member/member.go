// Package member is what each member account of an organisation's
// ecr-baseline deploys (docs/organization.md): an EventBridge rule with the
// hub's repository pattern that forwards matching ECR events to the hub's
// event bus, and, once per account, the role the hub's function assumes to
// enforce the baseline there. The template has no assets and no
// bootstrap reference, so CloudFormation StackSets can deploy it to every
// account of an organisational unit, including accounts that join later
// (NewStackSet); it is also a stack `cdk deploy` can deploy account by
// account without `cdk bootstrap`.
package member

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecr-baseline/ecr-baseline/infra/ecrbaseline"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// The template's parameters. One template serves every account and
// region: what differs comes in through them, from the hub stack's
// outputs and settings.
const (
	// ParamHubAccountID and ParamHubRegion are where the hub runs.
	ParamHubAccountID = "HubAccountId"
	ParamHubRegion    = "HubRegion"
	// ParamHubEventBusName is the hub's bus (its output
	// <id>EventBusName), which the rule forwards to.
	ParamHubEventBusName = "HubEventBusName"
	// ParamHubRoleARN is the hub function's role (its output <id>RoleArn),
	// the only principal the member role trusts.
	ParamHubRoleARN = "HubRoleArn"
	// ParamMemberRoleName is the member role's name: the hub's
	// memberRoleName setting.
	ParamMemberRoleName = "MemberRoleName"
	// ParamMemberRoleRegion is the one region of each account whose stack
	// creates the member role, an account-wide resource: the first of the
	// hub's memberRegions, or the hub's region.
	ParamMemberRoleRegion = "MemberRoleRegion"
)

// StackProps configures NewStack.
type StackProps struct {
	awscdk.StackProps
	// OrganizationID is the hub's organizationId setting: when set, the
	// member role trusts the hub's role only from within that
	// organisation. It is the same in every account, so it is part of the
	// template rather than a parameter.
	OrganizationID string
	// MemberRoleName and MemberRoleRegion are the defaults of the
	// template parameters of the same names, for a `cdk deploy` that
	// gives only the hub's outputs; a StackSet gives every parameter.
	// MemberRoleName defaults to the memberRoleName setting's default;
	// without MemberRoleRegion the parameter is required.
	MemberRoleName, MemberRoleRegion string
}

// Patterns the parameters must match, so a typo fails the deployment of
// the stack rather than leaving a member that forwards nowhere.
const (
	accountPattern = `^[0-9]{12}$`
	regionPattern  = `^[a-z]{2}(-[a-z]+)+-[0-9]$`
)

// NewStack returns the member stack. Its rule forwards to the hub's bus in
// every account and region but the hub's own region of the hub's own
// account, where the hub's own rule already sees the events; its member
// role exists once per account, in MemberRoleRegion, and not in the hub's
// account, which the function reaches with its own role.
func NewStack(scope constructs.Construct, id string, props *StackProps) awscdk.Stack {
	p := StackProps{}
	if props != nil {
		p = *props
	}
	if p.MemberRoleName == "" {
		p.MemberRoleName = envconfig.MemberRoleName.Default
	}
	stackProps := p.StackProps
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("ecr-baseline member: forwards ECR repository events to the hub and lets the hub's function enforce the baseline here")
	}
	// The legacy synthesizer needs no bootstrap: no asset bucket, no
	// BootstrapVersion parameter, and `cdk deploy` passes a template this
	// small inline. StackSets deploy the template itself, where a
	// bootstrap reference would fail in every account.
	stackProps.Synthesizer = awscdk.NewLegacyStackSynthesizer()
	// No AWS::CDK::Metadata resource and its region conditions: the
	// template is deployed as it stands, in every account.
	stackProps.AnalyticsReporting = jsii.Bool(false)
	stack := awscdk.NewStack(scope, jsii.String(id), &stackProps)

	param := func(name, description, pattern string, def *string) *string {
		props := &awscdk.CfnParameterProps{Type: jsii.String("String"), Description: jsii.String(description),
			AllowedPattern: jsii.String(pattern)}
		if def != nil {
			props.Default = *def
		}
		return awscdk.NewCfnParameter(stack, jsii.String(name), props).ValueAsString()
	}
	var roleRegionDefault *string
	if p.MemberRoleRegion != "" {
		roleRegionDefault = jsii.String(p.MemberRoleRegion)
	}
	hubAccount := param(ParamHubAccountID, "the account of the ecr-baseline hub", accountPattern, nil)
	hubRegion := param(ParamHubRegion, "the region of the ecr-baseline hub", regionPattern, nil)
	param(ParamHubEventBusName, "the hub's event bus (hub output EnforcerEventBusName)", `^[A-Za-z0-9._/-]{1,256}$`, nil)
	hubRole := param(ParamHubRoleARN, "the hub function's role, the only principal the member role trusts (hub output EnforcerRoleArn)",
		`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`, nil)
	roleName := param(ParamMemberRoleName, "the member role's name: the hub's memberRoleName setting",
		`^[\w+=,.@-]{1,64}$`, jsii.String(p.MemberRoleName))
	roleRegion := param(ParamMemberRoleRegion, "the one region of each account where the member role, an account-wide resource, is created",
		regionPattern, roleRegionDefault)

	condition := func(id string, expression awscdk.ICfnConditionExpression) awscdk.CfnCondition {
		return awscdk.NewCfnCondition(stack, jsii.String(id), &awscdk.CfnConditionProps{Expression: expression})
	}
	hubAccountHere := awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), hubAccount)
	forward := condition("ForwardEvents", awscdk.Fn_ConditionNot(awscdk.Fn_ConditionAnd(
		hubAccountHere, awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), hubRegion))))
	createRole := condition("CreateMemberRole", awscdk.Fn_ConditionAnd(
		awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), roleRegion), awscdk.Fn_ConditionNot(hubAccountHere)))

	newForwardRule(stack, forward)
	newMemberRole(stack, createRole, hubRole, roleName, p.OrganizationID)
	return stack
}

// newForwardRule forwards what the hub's repository rule matches to the
// hub's bus. EventBridge needs a role to put events on a bus in another
// account or region; CDK creates it (events.amazonaws.com, PutEvents on
// that bus only), and with it the sender is a principal of this account,
// which the bus's aws:PrincipalOrgID condition can check. Undelivered
// events are not kept here, where nothing would watch them: the hub's
// daily reconciliation sweep covers every member.
func newForwardRule(stack awscdk.Stack, forward awscdk.CfnCondition) {
	bus := awsevents.EventBus_FromEventBusArn(stack, jsii.String("HubEventBus"), awscdk.Fn_Sub(jsii.String(
		"arn:${AWS::Partition}:events:${"+ParamHubRegion+"}:${"+ParamHubAccountID+"}:event-bus/${"+ParamHubEventBusName+"}"), nil))
	rule := awsevents.NewRule(stack, jsii.String("ForwardRule"), &awsevents.RuleProps{
		Description:  jsii.String("ecr-baseline: forwards successful ECR repository creations, policy changes and tag changes to the hub"),
		EventPattern: ecrbaseline.EventPattern(),
		Targets:      &[]awsevents.IRuleTarget{awseventstargets.NewEventBus(bus, nil)},
	})
	for _, c := range *rule.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if r, ok := c.(awscdk.CfnResource); ok {
			r.CfnOptions().SetCondition(forward)
		}
	}
}

// newMemberRole is the role the hub's function assumes: trusted by that
// role only (and only from within the organisation when its ID is given),
// allowed exactly the ECR calls the enforcer makes (policy.EnforcerActions)
// on this account's repositories, in any region the hub covers.
func newMemberRole(stack awscdk.Stack, createRole awscdk.CfnCondition, hubRole, name *string, orgID string) {
	trust := map[string]interface{}{
		"Sid":       "HubFunction",
		"Effect":    "Allow",
		"Principal": map[string]interface{}{"AWS": hubRole},
		"Action":    "sts:AssumeRole",
	}
	if orgID != "" {
		trust["Condition"] = map[string]interface{}{"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": orgID}}
	}
	role := awsiam.NewCfnRole(stack, jsii.String("MemberRole"), &awsiam.CfnRoleProps{
		RoleName:    name,
		Description: jsii.String("ecr-baseline: assumed by the hub's function to enforce the baseline repository policy in this account"),
		AssumeRolePolicyDocument: map[string]interface{}{
			"Version":   "2012-10-17",
			"Statement": []interface{}{trust},
		},
		Policies: []interface{}{&awsiam.CfnRole_PolicyProperty{
			PolicyName: jsii.String("EnforceRepositoryPolicy"),
			PolicyDocument: map[string]interface{}{
				"Version": "2012-10-17",
				"Statement": []interface{}{map[string]interface{}{
					"Sid":      "EnforceRepositoryPolicy",
					"Effect":   "Allow",
					"Action":   policy.EnforcerActions,
					"Resource": awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"), nil),
				}},
			},
		}},
	})
	role.CfnOptions().SetCondition(createRole)
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The hub's function sets the policy of whichever repository an event names, and " +
			"sweeps list and enforce every repository, so the repository is only known at run time; the " +
			"role is per account and serves every region the hub covers. Limited to this account's " +
			"repositories and the ECR actions the function calls."),
		AppliesTo: &[]interface{}{"Resource::arn:<AWS::Partition>:ecr:*:<AWS::AccountId>:repository/*"},
	}}, jsii.Bool(true))
}
