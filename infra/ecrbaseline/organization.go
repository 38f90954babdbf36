package ecrbaseline

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

var (
	organizationID = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// IAM's own limits on a role name.
	roleName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// checkOrganization refuses, before anything is created, organisation
// settings the hub could not be built from or whose meaning would be
// lost: the accounts of an OU can only be trusted through the
// organisation's ID, and regions without members cover nothing.
func checkOrganization(cfg envconfig.Config) error {
	if !cfg.OrganizationMode() {
		if len(cfg.MemberRegions) > 0 {
			return fmt.Errorf("%s is set, but neither %s nor %s: the function enforces in its own account and region only",
				settingsName(envconfig.MemberRegions.Context), settingsName(envconfig.MemberAccounts.Context),
				settingsName(envconfig.MemberOrganizationalUnits.Context))
		}
		return nil
	}
	if cfg.OrganizationID == "" && len(cfg.MemberOrganizationalUnits) > 0 {
		return fmt.Errorf("%s is required with %s: the accounts of an OU are only known at run time, "+
			"so the event bus and the member roles are limited to the organisation",
			settingsName(envconfig.OrganizationID.Context), settingsName(envconfig.MemberOrganizationalUnits.Context))
	}
	if cfg.OrganizationID != "" && !organizationID.MatchString(cfg.OrganizationID) {
		return fmt.Errorf("%s must be an organization ID (o- and 10 to 32 lowercase letters or digits), got %q",
			settingsName(envconfig.OrganizationID.Context), cfg.OrganizationID)
	}
	if !roleName.MatchString(cfg.MemberRoleName) {
		return fmt.Errorf("%s must be an IAM role name (1 to 64 letters, digits or +=,.@_-), got %q",
			settingsName(envconfig.MemberRoleName.Context), cfg.MemberRoleName)
	}
	return nil
}

// newOrganization makes the Enforcer an organisation's hub when cfg says
// so, and does nothing otherwise, so a single account's stack stays as it
// is. The hub gets a custom event bus that only the organisation (or the
// listed accounts) may put events on, where the member stacks
// (infra/member) forward their repository events; a rule on it with the
// repository rule's pattern, retries and dead-letter queue, and p's
// RuleProps like every rule; and the permission to assume the member role
// in member accounts. The member role, not this one, makes the ECR calls
// there.
func newOrganization(c constructs.Construct, id string, e *Enforcer, p EnforcerProps, cfg envconfig.Config, role awsiam.Role) {
	if !cfg.OrganizationMode() {
		return
	}
	newMemberBus(c, id, e, p, cfg)
	grantMemberAccess(role, cfg)
	newOrganizationOutputs(c, id, e, role)
}

// newMemberBus is the bus member stacks forward to, and its rule.
func newMemberBus(c constructs.Construct, id string, e *Enforcer, p EnforcerProps, cfg envconfig.Config) {
	stack := awscdk.Stack_Of(c)
	// Named at synth, so its policy, a property of the bus itself, can
	// name its ARN without referring to the bus.
	name := *stack.StackName() + "-" + notOutputName.ReplaceAllString(id, "") + "-members"
	e.EventBus = awsevents.NewEventBus(c, jsii.String("MemberEventBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(name),
		Description:  jsii.String("ecr-baseline: repository events forwarded by member accounts"),
	})
	e.EventBus.Node().DefaultChild().(awsevents.CfnEventBus).SetPolicy(awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{membersPutEvents(cfg, stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("events"),
			Resource:     jsii.String("event-bus"),
			ResourceName: jsii.String(name),
		}))},
	}))
	// p.RuleProps holds the overrides of every rule (Enabled, Role, ...);
	// checkProps refused any of the fields set here.
	props := *p.RuleProps
	props.Description = jsii.String("ecr-baseline: repository events forwarded by member accounts")
	props.EventBus = e.EventBus
	props.EventPattern = EventPattern()
	e.EventBusRule = awsevents.NewRule(c, jsii.String("MemberEventsRule"), &props)
	e.EventBusRule.AddTarget(awseventstargets.NewLambdaFunction(e.Function, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: e.RuleDeadLetterQueue,
		RetryAttempts:   jsii.Number(ruleRetryAttempts),
		MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(ruleMaxEventAge.Seconds())),
	}))
}

// grantMemberAccess lets role assume the member roles and, with OUs or
// the root, find their accounts and the management account, and reach
// its own account's repositories in the member regions; each wildcard is
// accepted for cdk-nag with its reason.
func grantMemberAccess(role awsiam.Role, cfg envconfig.Config) {
	stack := awscdk.Stack_Of(role)
	assume := &awsiam.PolicyStatementProps{
		Sid:       jsii.String("AssumeMemberRoles"),
		Actions:   jsii.Strings("sts:AssumeRole"),
		Resources: memberRoleARNs(stack, cfg),
	}
	if cfg.OrganizationID != "" {
		// The role's account must belong to the organisation, whichever
		// account an OU turns out to hold.
		assume.Conditions = &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:ResourceOrgID": cfg.OrganizationID},
		}
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(assume))
	var suppressions []*cdknag.NagPackSuppression
	suppress := func(resource, reason string) {
		suppressions = append(suppressions, &cdknag.NagPackSuppression{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String(reason),
			AppliesTo: &[]interface{}{"Resource::" + resource},
		})
	}
	if len(cfg.MemberOrganizationalUnits) > 0 {
		suppress("arn:<AWS::Partition>:iam::*:role/"+cfg.MemberRoleName,
			"The accounts of the member OUs are only known at run time, so the member role is named in "+
				"every account; only that one role name, and with aws:ResourceOrgID only in accounts of "+
				"this organisation.")
		// Organizations answers these in the management account or a
		// delegated administrator only. An OU's or the root's ARN names
		// the management account, which the hub does not know, and nested
		// OUs are only known once listed.
		parents := []*string{jsii.String("arn:" + *stack.Partition() + ":organizations::*:ou/" + cfg.OrganizationID + "/ou-*")}
		suppress("arn:<AWS::Partition>:organizations::*:ou/"+cfg.OrganizationID+"/ou-*",
			"The function lists the accounts of the member OUs and of the OUs nested in them, which are "+
				"only known once listed; an OU's ARN names the management account, which the hub does not "+
				"know. Limited to OUs of this organisation and to two read-only list calls.")
		if slices.ContainsFunc(cfg.MemberOrganizationalUnits, envconfig.IsRoot) {
			parents = append(parents, jsii.String("arn:"+*stack.Partition()+":organizations::*:root/"+cfg.OrganizationID+"/r-*"))
			suppress("arn:<AWS::Partition>:organizations::*:root/"+cfg.OrganizationID+"/r-*",
				"The whole organisation is a member: the function lists the accounts and OUs of its root. "+
					"The root's ARN names the management account, which the hub does not know; an "+
					"organisation has one root. Limited to this organisation and to two read-only list calls.")
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ListMemberAccounts"),
			Actions:   jsii.Strings("organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"),
			Resources: &parents,
		}))
		// The management account is no member unless listed (pkg/org):
		// StackSets never give it a member role.
		addStatement(role, "DescribeOrganization", []string{"organizations:DescribeOrganization"}, jsii.String("*"))
		suppress("*",
			"The function reads the organisation's management account once, to leave it out of the "+
				"members found under OUs: StackSets never deploy the member role there. "+
				"organizations:DescribeOrganization has no resource-level permissions, so its resource is *; "+
				"it is one read-only call.")
	}
	// The hub reaches its own account with its own role (pkg/org.Access),
	// in every member region when it is a member itself.
	if len(cfg.MemberRegions) > 0 {
		repositories := make([]*string, len(cfg.MemberRegions))
		for i, region := range cfg.MemberRegions {
			repositories[i] = stack.FormatArn(&awscdk.ArnComponents{
				Service:      jsii.String("ecr"),
				Region:       jsii.String(region),
				Resource:     jsii.String("repository"),
				ResourceName: jsii.String("*"),
			})
			suppress("arn:<AWS::Partition>:ecr:"+region+":<AWS::AccountId>:repository/*",
				"When the hub's account is a member, the function enforces its repositories in each member "+
					"region with its own role, as in its own region, and the repository is only known at run "+
					"time. Limited to this account, the member regions and the ECR actions the function calls.")
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("EnforceMemberRegions"),
			Actions:   jsii.Strings(policy.EnforcerActions...),
			Resources: &repositories,
		}))
	}
	if len(suppressions) > 0 {
		cdknag.NagSuppressions_AddResourceSuppressions(role, &suppressions, jsii.Bool(true))
	}
}

// membersPutEvents lets the members put events on the hub's bus: anyone
// in the organisation when only OUs say who the members are (their
// accounts are known at run time), otherwise exactly the listed
// accounts, and then also only within the organisation when its ID is
// given. Member rules forward with a role of their own account, so
// aws:PrincipalOrgID applies.
func membersPutEvents(cfg envconfig.Config, bus *string) awsiam.PolicyStatement {
	principals := []awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
	if len(cfg.MemberOrganizationalUnits) == 0 {
		principals = make([]awsiam.IPrincipal, len(cfg.MemberAccounts))
		for i, a := range cfg.MemberAccounts {
			principals[i] = awsiam.NewAccountPrincipal(jsii.String(a))
		}
	}
	statement := &awsiam.PolicyStatementProps{
		Sid:        jsii.String("MembersPutEvents"),
		Principals: &principals,
		Actions:    jsii.Strings("events:PutEvents"),
		Resources:  &[]*string{bus},
	}
	if cfg.OrganizationID != "" {
		statement.Conditions = &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": cfg.OrganizationID},
		}
	}
	return awsiam.NewPolicyStatement(statement)
}

// memberRoleARNs are the member roles the hub may assume: the role name in
// every account when OUs are given, the listed accounts' otherwise.
func memberRoleARNs(stack awscdk.Stack, cfg envconfig.Config) *[]*string {
	accounts := cfg.MemberAccounts
	if len(cfg.MemberOrganizationalUnits) > 0 {
		accounts = []string{"*"}
	}
	arns := make([]*string, len(accounts))
	for i, a := range accounts {
		arns[i] = jsii.String("arn:" + *stack.Partition() + ":iam::" + a + ":role/" + cfg.MemberRoleName)
	}
	return &arns
}
