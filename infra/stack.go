package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecr-baseline/ecr-baseline/infra/ecrbaseline"
	"github.com/ecr-baseline/ecr-baseline/infra/member"
)

// StackProps configures NewStack.
type StackProps struct {
	awscdk.StackProps
	// Config is the app's settings, usually from ConfigFromContext.
	Config Config
}

// NewStack returns the ecr-baseline stack: the Enforcer construct, with
// its outputs and dashboard, in organisation mode with context
// memberStackSet the StackSet of the member stack, and cdk-nag's
// AwsSolutions checks, so every
// synth reports a finding that is neither fixed nor suppressed with a
// reason as an error. Like the construct, it panics with an error on
// input it cannot use: a baseline file it cannot read, or what the
// construct refuses.
//
// The stack sets no account or region: it synthesizes without AWS
// credentials and deploys to whichever the CLI's credentials point at.
func NewStack(scope constructs.Construct, id string, props *StackProps) awscdk.Stack {
	cfg := props.Config
	enforcerProps := &ecrbaseline.EnforcerProps{CodePath: jsii.String(cfg.CodePath), Settings: cfg.Settings}
	if cfg.KMSKeyARN == "" {
		text, err := os.ReadFile(cfg.PolicyFile)
		if err != nil {
			panic(fmt.Errorf("read baseline policy: %w", err))
		}
		enforcerProps.PolicyText = jsii.String(string(text))
	}

	stackProps := props.StackProps
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("ecr-baseline: applies a baseline repository policy to every ECR repository")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &stackProps)
	if cfg.KMSKeyARN != "" {
		enforcerProps.EncryptionKey = awskms.Key_FromKeyArn(stack, jsii.String("BaselineKey"), jsii.String(cfg.KMSKeyARN))
	}
	if cfg.AlarmTopicARN != "" {
		enforcerProps.AlarmTopic = awssns.Topic_FromTopicArn(stack, jsii.String("AlarmTopic"), jsii.String(cfg.AlarmTopicARN))
	}
	e := ecrbaseline.NewEnforcer(stack, "Enforcer", enforcerProps)
	if cfg.MemberStackSet != "" {
		// The Enforcer accepted the settings, so they resolve.
		settings, err := functionSettings(cfg.Settings, "")
		if err != nil {
			panic(err)
		}
		if _, err := member.NewStackSet(stack, "Members", &member.StackSetProps{
			OrganizationalUnitIDs: settings.MemberOrganizationalUnits, Regions: settings.MemberRegions,
			HubEventBusName: e.EventBus.EventBusName(), HubRoleARN: e.Function.Role().RoleArn(),
			MemberRoleName: settings.MemberRoleName, OrganizationID: settings.OrganizationID, CallAs: cfg.MemberStackSet,
		}); err != nil {
			panic(fmt.Errorf("member StackSet: %w", err))
		}
	}

	checkNag(stack)
	return stack
}

// NewMemberStack returns the member stack of the hub that cfg describes
// (infra/member), with its parameters' defaults from cfg's settings, and
// cdk-nag's checks; nil when cfg is not organisation mode. Like NewStack,
// it panics with an error on settings it cannot use.
func NewMemberStack(scope constructs.Construct, id string, cfg Config) awscdk.Stack {
	settings, err := functionSettings(cfg.Settings, "context ")
	if err != nil {
		panic(err)
	}
	if !settings.OrganizationMode() {
		return nil
	}
	props := &member.StackProps{OrganizationID: settings.OrganizationID, MemberRoleName: settings.MemberRoleName}
	if len(settings.MemberRegions) > 0 {
		props.MemberRoleRegion = settings.MemberRegions[0]
	}
	stack := member.NewStack(scope, id, props)
	checkNag(stack)
	return stack
}

// checkNag runs cdk-nag's AwsSolutions checks on stack, so every synth
// reports a finding that is neither fixed nor suppressed with a reason as
// an error.
func checkNag(stack awscdk.Stack) {
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
