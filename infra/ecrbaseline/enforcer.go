// Package ecrbaseline is the reusable CDK construct of ecr-baseline: an
// EventBridge rule that sends every successful ECR CreateRepository call to
// the enforcer Lambda, which applies the baseline repository policy kept in
// SSM Parameter Store. Embed it in any stack with NewEnforcer.
package ecrbaseline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Defaults for the optional EnforcerProps fields.
const (
	DefaultParameterName = "/ecr-baseline/baseline-policy"
	DefaultCacheTTL      = 5 * time.Minute
)

// Environment variables the enforcer function reads.
const (
	EnvParameterName = "BASELINE_PARAMETER_NAME"
	EnvCacheTTL      = "BASELINE_CACHE_TTL"
	EnvDryRun        = "DRY_RUN"
)

// repositoryActions are the ECR calls the enforcer makes on a repository,
// granted on every repository of the stack's account and region. The
// function lists a repository's tags on every event unless EXEMPT_TAG is
// set empty (tag exemption is on by default). A feature that makes a new
// call adds it here in the same change: backfill needs
// ecr:DescribeRepositories.
var repositoryActions = []string{
	"ecr:GetRepositoryPolicy",
	"ecr:SetRepositoryPolicy",
	"ecr:ListTagsForResource",
}

// EnforcerProps configures an Enforcer. Later enforcement options (backfill,
// exemptions, ...) are added here as optional fields with safe defaults.
type EnforcerProps struct {
	// PolicyText is the baseline repository policy template, as in
	// policies/baseline.json. It is validated at synth time with the same
	// check the function runs, and stored in the SSM parameter verbatim.
	// Required unless EncryptionKey is set, and must be empty then.
	PolicyText string

	// ParameterName names the SSM parameter holding the baseline.
	// Default: DefaultParameterName.
	ParameterName string

	// CodePath is the directory holding the function's `bootstrap`
	// executable for linux/arm64 (`make build` writes build/enforcer).
	CodePath string

	// DryRun makes the function log the policy it would set without
	// setting it.
	DryRun bool

	// CacheTTL is how long the function keeps the baseline it read from
	// SSM before reading it again. Default: DefaultCacheTTL.
	CacheTTL time.Duration

	// EncryptionKey, when set, is the customer managed KMS key of a
	// SecureString parameter named ParameterName that must already exist:
	// CloudFormation cannot create SecureString parameters, so the
	// construct references it instead of creating it, and grants
	// kms:Decrypt on this key (through SSM only).
	EncryptionKey awskms.IKey

	// ReservedConcurrency caps concurrent executions of the function;
	// nil leaves it to the account's unreserved pool.
	ReservedConcurrency *float64

	// LogRetention is how long the function's logs are kept.
	// Default: one month.
	LogRetention awslogs.RetentionDays
}

// Enforcer is the deployed ecr-baseline: the rule, the function, the
// baseline parameter and the queues that catch what could not be delivered
// or processed. Its fields let the embedding stack add outputs or alarm
// actions.
type Enforcer struct {
	constructs.Construct

	// Function is the enforcer Lambda.
	Function awslambda.Function
	// Parameter is the SSM parameter holding the baseline template.
	Parameter awsssm.IStringParameter
	// Rule matches successful CreateRepository calls.
	Rule awsevents.Rule
	// RuleDeadLetterQueue receives events EventBridge could not deliver to
	// the function.
	RuleDeadLetterQueue awssqs.Queue
	// FailureQueue receives invocation records of events the function
	// failed on after its async retries.
	FailureQueue awssqs.Queue
	// Alarms fire on function errors and on messages in either queue; they
	// have no actions, so the embedding stack can add its own.
	Alarms []awscloudwatch.Alarm
}

// SSM parameter value limits, counted here in bytes: never fewer than the
// characters SSM counts, so a value that fits by this count always fits.
const (
	standardTierLimit = 4096
	advancedTierLimit = 8192
)

// Retry settings. EventBridge only fails to deliver to Lambda when the async
// invoke itself is refused (throttling, a missing permission), which is
// transient, so it gets AWS's maximum of 185 attempts over 24 hours. The
// function's own failures are retried twice over up to 6 hours (Lambda's
// maximum): a third failure of the same event is a bug or a policy ECR
// rejects, which retrying won't fix, so it goes to FailureQueue.
const (
	ruleRetryAttempts     = 185
	ruleMaxEventAge       = 24 * time.Hour
	functionRetryAttempts = 2
	functionMaxEventAge   = 6 * time.Hour
	// SQS's maximum retention, to leave time to notice the alarm.
	queueRetention = 14 * 24 * time.Hour
)

// NewEnforcer adds an ecr-baseline enforcer to scope. It returns an error,
// before creating anything, when the props are incomplete or the baseline
// is invalid or too large for an SSM parameter.
func NewEnforcer(scope constructs.Construct, id string, props *EnforcerProps) (*Enforcer, error) {
	p, tier, err := checkProps(props)
	if err != nil {
		return nil, fmt.Errorf("ecr-baseline %s: %w", id, err)
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	e := &Enforcer{Construct: c}
	stack := awscdk.Stack_Of(c)

	if p.EncryptionKey == nil {
		e.Parameter = awsssm.NewStringParameter(c, jsii.String("Parameter"), &awsssm.StringParameterProps{
			ParameterName: jsii.String(p.ParameterName),
			StringValue:   jsii.String(p.PolicyText),
			Tier:          tier,
			Description:   jsii.String("ecr-baseline: baseline ECR repository policy template"),
		})
	} else {
		e.Parameter = awsssm.StringParameter_FromSecureStringParameterAttributes(c, jsii.String("Parameter"),
			&awsssm.SecureStringParameterAttributes{
				ParameterName: jsii.String(p.ParameterName),
				EncryptionKey: p.EncryptionKey,
			})
	}

	e.RuleDeadLetterQueue = newDeadLetterQueue(c, "RuleDeadLetterQueue")
	e.FailureQueue = newDeadLetterQueue(c, "FailureQueue")

	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention,
	})

	// An explicit role instead of the default AWSLambdaBasicExecutionRole,
	// which allows writing to every log group in the account.
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("ecr-baseline enforcer"),
	})
	addStatement(role, "WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, logGroup.LogGroupArn())
	addStatement(role, "ReadBaseline", []string{"ssm:GetParameter"}, e.Parameter.ParameterArn())
	addStatement(role, "EnforceRepositoryPolicy", repositoryActions, stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecr"),
		Resource:     jsii.String("repository"),
		ResourceName: jsii.String("*"),
	}))
	addStatement(role, "ReportFailure", []string{"sqs:SendMessage"}, e.FailureQueue.QueueArn())
	if p.EncryptionKey != nil {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DecryptBaseline"),
			Actions:   jsii.Strings("kms:Decrypt"),
			Resources: jsii.Strings(*p.EncryptionKey.KeyArn()),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{
					"kms:ViaService": fmt.Sprintf("ssm.%s.amazonaws.com", *stack.Region()),
				},
			},
		}))
	}

	e.Function = awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:  jsii.String("ecr-baseline: applies the baseline policy to new ECR repositories"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(p.CodePath), nil),
		MemorySize:   jsii.Number(128),
		// Room for the backfill run, which walks every repository.
		Timeout:                      awscdk.Duration_Minutes(jsii.Number(5)),
		Role:                         role,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2:        awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
		ReservedConcurrentExecutions: p.ReservedConcurrency,
		Environment: &map[string]*string{
			EnvParameterName: e.Parameter.ParameterName(),
			EnvCacheTTL:      jsii.String(p.CacheTTL.String()),
			EnvDryRun:        jsii.String(fmt.Sprint(p.DryRun)),
		},
	})

	// The function L2 adds DependsOn its role next to the GetAtt of the
	// role's ARN (the DependsOn also covers the role's policy); cfn-lint
	// warns that the role half is redundant, which is true and harmless.
	e.Function.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
		"config": map[string]interface{}{"ignore_checks": []string{"W3005"}},
	})

	// The L1 resource, not the function's OnFailure prop: the L2 SQS
	// destination also grants sqs:GetQueueAttributes and sqs:GetQueueUrl,
	// which Lambda does not need to deliver a failure record.
	asyncConfig := awslambda.NewCfnEventInvokeConfig(c, jsii.String("AsyncConfig"), &awslambda.CfnEventInvokeConfigProps{
		FunctionName:             e.Function.FunctionName(),
		Qualifier:                jsii.String("$LATEST"),
		MaximumRetryAttempts:     jsii.Number(functionRetryAttempts),
		MaximumEventAgeInSeconds: jsii.Number(functionMaxEventAge.Seconds()),
		DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{
				Destination: e.FailureQueue.QueueArn(),
			},
		},
	})
	// Lambda checks the role may send to the destination when the config
	// is created, so the role's policy must exist first.
	asyncConfig.Node().AddDependency(role)

	e.Rule = awsevents.NewRule(c, jsii.String("CreateRepositoryRule"), &awsevents.RuleProps{
		Description:  jsii.String("ecr-baseline: successful ECR CreateRepository calls"),
		EventPattern: EventPattern(),
	})
	e.Rule.AddTarget(awseventstargets.NewLambdaFunction(e.Function, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: e.RuleDeadLetterQueue,
		RetryAttempts:   jsii.Number(ruleRetryAttempts),
		MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(ruleMaxEventAge.Seconds())),
	}))

	e.Alarms = []awscloudwatch.Alarm{
		newAlarm(c, "FunctionErrors", "ecr-baseline: the enforcer function failed",
			e.Function.MetricErrors(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Sum"),
			})),
		newAlarm(c, "RuleDeadLetters", "ecr-baseline: EventBridge could not deliver CreateRepository events; see the rule dead-letter queue",
			e.RuleDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Maximum"),
			})),
		newAlarm(c, "FunctionFailures", "ecr-baseline: the function gave up on events; see the failure queue",
			e.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Maximum"),
			})),
	}

	suppressNagFindings(e, role)
	return e, nil
}

// checkProps returns props with defaults filled in and the parameter tier
// the baseline needs.
func checkProps(props *EnforcerProps) (EnforcerProps, awsssm.ParameterTier, error) {
	if props == nil {
		return EnforcerProps{}, "", errors.New("props are required")
	}
	p := *props
	if p.ParameterName == "" {
		p.ParameterName = DefaultParameterName
	}
	if p.CacheTTL == 0 {
		p.CacheTTL = DefaultCacheTTL
	}
	if p.CacheTTL < 0 {
		return p, "", fmt.Errorf("CacheTTL %s is negative", p.CacheTTL)
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.CodePath == "" {
		return p, "", errors.New("CodePath is required: the directory holding the function's bootstrap")
	}
	// Code_FromAsset accepts any directory; without this check a missing
	// build would deploy a function that cannot start.
	if st, err := os.Stat(filepath.Join(p.CodePath, "bootstrap")); err != nil || !st.Mode().IsRegular() {
		return p, "", fmt.Errorf("CodePath %s has no bootstrap file (run `make build`)", p.CodePath)
	}

	if p.EncryptionKey != nil {
		if p.PolicyText != "" {
			return p, "", errors.New("PolicyText must be empty when EncryptionKey is set: " +
				"CloudFormation cannot create SecureString parameters, so put the baseline with " +
				"`aws ssm put-parameter --type SecureString` and the stack only references it")
		}
		return p, "", nil
	}
	if p.PolicyText == "" {
		return p, "", errors.New("PolicyText is required (the baseline policy template)")
	}
	if err := policy.CheckTemplate(p.PolicyText); err != nil {
		return p, "", fmt.Errorf("baseline policy: %w", err)
	}
	tier, err := parameterTier(len(p.PolicyText))
	if err != nil {
		return p, "", fmt.Errorf("baseline policy: %w", err)
	}
	return p, tier, nil
}

// parameterTier picks the cheapest SSM tier that holds a value of size
// bytes. ECR accepts policies up to 10240 characters, but a template larger
// than the advanced tier's 8 KB cannot be kept in Parameter Store at all.
func parameterTier(size int) (awsssm.ParameterTier, error) {
	switch {
	case size <= standardTierLimit:
		return awsssm.ParameterTier_STANDARD, nil
	case size <= advancedTierLimit:
		return awsssm.ParameterTier_ADVANCED, nil
	default:
		return "", fmt.Errorf("template is %d bytes; an SSM parameter holds at most %d (advanced tier): shorten it (whitespace counts)",
			size, advancedTierLimit)
	}
}

// EventPattern matches the CloudTrail record of every successful
// CreateRepository call in the account and region of the rule. A failed
// call carries errorCode and created nothing, so it is left out.
func EventPattern() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings("aws.ecr"),
		DetailType: jsii.Strings("AWS API Call via CloudTrail"),
		Detail: &map[string]interface{}{
			"eventSource": []string{"ecr.amazonaws.com"},
			"eventName":   []string{"CreateRepository"},
			"errorCode":   []interface{}{map[string]interface{}{"exists": false}},
		},
	}
}

func newDeadLetterQueue(scope constructs.Construct, id string) awssqs.Queue {
	// SQS-managed encryption rather than KMS: EventBridge cannot send to a
	// queue encrypted with the AWS managed aws/sqs key.
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(queueRetention.Seconds())),
	})
}

func newAlarm(scope constructs.Construct, id, description string, metric awscloudwatch.Metric) awscloudwatch.Alarm {
	return awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(description),
		Metric:             metric,
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		// No datapoint means no failure: both metrics are only emitted
		// while something happens.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

func addStatement(role awsiam.Role, sid string, actions []string, resource *string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: &[]*string{resource},
	}))
}
