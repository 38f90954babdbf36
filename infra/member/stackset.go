package member

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// How a StackSet is administered (CloudFormation's CallAs): from the
// organisation's management account, or from a member account registered
// as a delegated administrator of StackSets, such as a security tooling
// account.
const (
	CallAsSelf           = "SELF"
	CallAsDelegatedAdmin = "DELEGATED_ADMIN"
)

// StackSetProps configures NewStackSet.
type StackSetProps struct {
	// OrganizationalUnitIDs are the OUs (ou-...), or the organisation's
	// root (r-...) for all of it, whose accounts get the member stack:
	// those in them now and those that join later. Required.
	OrganizationalUnitIDs []string
	// Regions are where each account gets it. Default: the hub's region.
	Regions []string
	// HubEventBusName and HubRoleARN are the hub's bus and function role
	// (Enforcer.EventBus, Enforcer.Function.Role()). Required.
	HubEventBusName, HubRoleARN *string
	// MemberRoleName is the hub's memberRoleName setting. Required.
	MemberRoleName string
	// OrganizationID is the hub's organizationId setting. Required: an
	// organisation's OUs are what a StackSet deploys to.
	OrganizationID string
	// CallAs is CallAsSelf or CallAsDelegatedAdmin. Required.
	CallAs string
}

// Operation preferences. A quarter of the accounts at a time, so a
// template that fails does so in a few accounts before the rest; up to a
// tenth may fail (an account whose SCPs refuse the role) without failing
// the hub's deployment. The function names such an account when it cannot
// assume the role there, so it does not go unnoticed.
const (
	maxConcurrentPercentage    = 25
	failureTolerancePercentage = 10
)

// NewStackSet adds to the hub's stack a service-managed StackSet that
// deploys the member template to every account of the given OUs, in every
// given region, with automatic deployment: an account that joins one of
// the OUs gets it with no further step, and one that leaves loses it. The
// hub's account, when it is in one of the OUs, gets a stack that forwards
// its other regions' events only (see NewStack). Service-managed StackSets
// never deploy to the management account, even under a targeted OU or
// the root: the hub leaves it out of the members unless it is listed
// (pkg/org.Members).
func NewStackSet(scope constructs.Construct, id string, props *StackSetProps) (awscloudformation.CfnStackSet, error) {
	if err := props.check(); err != nil {
		return nil, fmt.Errorf("member StackSet %s: %w", id, err)
	}
	regions := jsii.Strings(props.Regions...)
	if len(props.Regions) == 0 {
		regions = &[]*string{awscdk.Aws_REGION()}
	}
	// The defaults are those of the app's member stack (`make synth`), so
	// both are the same template.
	templateProps := &StackProps{OrganizationID: props.OrganizationID, MemberRoleName: props.MemberRoleName}
	if len(props.Regions) > 0 {
		templateProps.MemberRoleRegion = props.Regions[0]
	}
	template, err := Template(templateProps)
	if err != nil {
		return nil, fmt.Errorf("member StackSet %s: %w", id, err)
	}
	parameter := func(key string, value *string) *awscloudformation.CfnStackSet_ParameterProperty {
		return &awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(key), ParameterValue: value}
	}
	return awscloudformation.NewCfnStackSet(scope, jsii.String(id), &awscloudformation.CfnStackSetProps{
		StackSetName:    jsii.String(*awscdk.Aws_STACK_NAME() + "-members"),
		Description:     jsii.String("ecr-baseline members: forward repository events to the hub and let its function enforce the baseline"),
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		CallAs:          jsii.String(props.CallAs),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled:                      jsii.Bool(true),
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		// The member role has a name.
		Capabilities: jsii.Strings("CAPABILITY_NAMED_IAM"),
		// A map: jsii renders this struct's field in lower case.
		ManagedExecution: map[string]interface{}{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			RegionConcurrencyType:      jsii.String("PARALLEL"),
			MaxConcurrentPercentage:    jsii.Number(maxConcurrentPercentage),
			FailureTolerancePercentage: jsii.Number(failureTolerancePercentage),
		},
		Parameters: &[]interface{}{
			parameter(ParamHubAccountID, awscdk.Aws_ACCOUNT_ID()),
			parameter(ParamHubRegion, awscdk.Aws_REGION()),
			parameter(ParamHubEventBusName, props.HubEventBusName),
			parameter(ParamHubRoleARN, props.HubRoleARN),
			parameter(ParamMemberRoleName, jsii.String(props.MemberRoleName)),
			// The first region, so every account that gets a stack gets
			// the role.
			parameter(ParamMemberRoleRegion, (*regions)[0]),
		},
		StackInstancesGroup: &[]interface{}{&awscloudformation.CfnStackSet_StackInstancesProperty{
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{
				OrganizationalUnitIds: jsii.Strings(props.OrganizationalUnitIDs...),
			},
			Regions: regions,
		}},
		TemplateBody: jsii.String(template),
	}), nil
}

func (p *StackSetProps) check() error {
	switch {
	case p == nil:
		return errors.New("props are required")
	case len(p.OrganizationalUnitIDs) == 0:
		return errors.New("OrganizationalUnitIDs are required: a service-managed StackSet deploys to the accounts of OUs")
	case p.HubEventBusName == nil || p.HubRoleARN == nil:
		return errors.New("HubEventBusName and HubRoleARN are required (the Enforcer's EventBus and function role, in organisation mode)")
	case p.MemberRoleName == "":
		return errors.New("MemberRoleName is required (the hub's memberRoleName setting)")
	case p.OrganizationID == "":
		return errors.New("OrganizationID is required (the hub's organizationId setting)")
	case p.CallAs != CallAsSelf && p.CallAs != CallAsDelegatedAdmin:
		return fmt.Errorf("CallAs must be %s (the hub is the management account) or %s (a delegated administrator of StackSets), got %q",
			CallAsSelf, CallAsDelegatedAdmin, p.CallAs)
	}
	return nil
}

// Template returns the member template, as CloudFormation deploys it: the
// stack NewStack builds, synthesized on its own.
func Template(props *StackProps) (_ string, err error) {
	dir, err := os.MkdirTemp("", "ecr-baseline-member-")
	if err != nil {
		return "", fmt.Errorf("member template: %w", err)
	}
	defer os.RemoveAll(dir)
	// A failed jsii call panics.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("member template: %v", r)
		}
	}()
	const id = "Member"
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir)})
	NewStack(app, id, props)
	b, err := json.Marshal(app.Synth(nil).GetStackArtifact(jsii.String(id)).Template())
	if err != nil {
		return "", fmt.Errorf("member template: %w", err)
	}
	return string(b), nil
}
