// Package ecrbaseline is the reusable CDK construct of ecr-baseline:
// EventBridge rules — successful ECR repository creations, policy and tag
// changes, changes to the baseline parameter, and a daily reconciliation —
// that send their events to the enforcer Lambda, which applies the baseline
// repository policy kept in SSM Parameter Store; and the SQS queue that
// sweeps of the whole fleet run on. Embed it in any stack with NewEnforcer.
package ecrbaseline

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Enforcer is the deployed ecr-baseline: the rules, the function, the
// baseline parameter, the archive of the policies it replaces, the queues
// sweeps run on and those that catch what could not be delivered or
// processed, the alarms and the dashboard. Its fields let the embedding
// stack add outputs, alarm actions, grants or tags.
type Enforcer struct {
	// Construct is the construct every resource below is in. Hand it, not
	// the Enforcer, to a CDK function that takes a construct
	// (awscdk.Tags_Of(e.Construct), cdknag suppressions): jsii knows the
	// construct, not the Go struct around it.
	constructs.Construct

	// Function is the enforcer Lambda.
	Function awslambda.Function
	// Parameter is the SSM parameter holding the baseline template.
	Parameter awsssm.IStringParameter
	// Rule matches successful repository creations (API calls, pull-through
	// cache and replication), repository policy changes and tag changes.
	Rule awsevents.Rule
	// BaselineChangeRule matches changes to the baseline parameter.
	BaselineChangeRule awsevents.Rule
	// ReconcileRule starts the scheduled reconciliation sweep.
	ReconcileRule awsevents.Rule
	// SweepQueue holds the items of fleet sweeps — pages to list and
	// repositories to enforce — which the function consumes through an
	// event source mapping; SweepDeadLetterQueue receives an item that
	// failed maxReceiveCount times, as itself and with its reason.
	SweepQueue           awssqs.Queue
	SweepDeadLetterQueue awssqs.Queue
	// RuleDeadLetterQueue receives events EventBridge could not deliver to
	// the function.
	RuleDeadLetterQueue awssqs.Queue
	// FailureQueue receives invocation records of events the function
	// failed on after its async retries.
	FailureQueue awssqs.Queue
	// Archive is the bucket the function writes every policy it replaces
	// or merges into before the write (pkg/archive), and restore reads.
	// It is retained when the stack is deleted, unless
	// ArchiveRemovalPolicy says otherwise.
	Archive awss3.Bucket
	// EventBus receives the repository events member accounts forward, and
	// EventBusRule sends them to the function; both only in organisation
	// mode (OrganizationMode), nil otherwise.
	EventBus     awsevents.EventBus
	EventBusRule awsevents.Rule
	// Alarms fire on function errors, on messages in any dead-letter
	// queue, on repositories the function reports as failed and on
	// repositories newly exempted by a tag. They notify AlarmTopic when
	// it is set; the embedding stack can add its own actions.
	Alarms []awscloudwatch.Alarm
	// Dashboard shows the alarms, the repositories by outcome, sweep
	// progress, the dead-letter queues, errors, throttles and duration.
	Dashboard awscloudwatch.Dashboard
}

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
	// functionTimeout bounds one invocation by default: an event, a sweep
	// request, or a sweep batch of sweepBatchSize items (the function
	// stops starting them app.StopBefore ahead of it).
	functionTimeout = 2 * time.Minute
	// sweepVisibilityFactor is AWS's guidance for a queue a Lambda
	// consumes: a visibility timeout of at least six times the function's
	// timeout, so a batch still being retried by the mapping is not
	// delivered twice. It is also how long a failed item waits before it
	// is delivered again.
	sweepVisibilityFactor = 6
	// sweepMaxReceiveCount is how many times an item is delivered before
	// it goes to the dead-letter queue: AWS recommends at least five, so
	// a throttled or briefly failing call is retried over about an hour
	// (five visibility timeouts).
	sweepMaxReceiveCount = 5
	// sweepBatchSize is SQS's largest batch without a batching window.
	sweepBatchSize = 10
)

// NewEnforcer adds an ecr-baseline enforcer to scope. Like CDK's own
// constructs, it panics on input it cannot use, with an error naming the
// prop: before creating anything when the props are incomplete or refused
// (an owned override, a value out of range), a setting is one the
// function would refuse, the baseline is invalid or too large for an SSM
// parameter, or CodePath holds no linux/arm64 bootstrap; and when building
// the function fails, which happens while the function is created.
func NewEnforcer(scope constructs.Construct, id string, props *EnforcerProps) *Enforcer {
	p, cfg, tier, err := checkProps(props, knownEnv(scope))
	if err != nil {
		panic(fmt.Errorf("ecr-baseline %s: %w", id, err))
	}
	code, build, err := functionCode(p.CodePath)
	if err != nil {
		panic(fmt.Errorf("ecr-baseline %s: %w", id, err))
	}
	// CDK builds the function inside awslambda.NewFunction, and a failed
	// build comes back from it as jsii's panic.
	defer build.panicWithFailure(id)

	c := constructs.NewConstruct(scope, jsii.String(id))
	e := &Enforcer{Construct: c}
	e.Parameter = newParameter(c, p, cfg.ParameterName, tier)
	e.RuleDeadLetterQueue = newQueue(c, "RuleDeadLetterQueue", p, nil)
	e.FailureQueue = newQueue(c, "FailureQueue", p, nil)
	e.SweepDeadLetterQueue = newQueue(c, "SweepDeadLetterQueue", p, nil)
	e.SweepQueue = newQueue(c, "SweepQueue", p, e.SweepDeadLetterQueue)
	e.Archive = newArchive(c, p)
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: p.LogRemovalPolicy,
	})

	role := newRole(c, e, logGroup, p.EncryptionKey)
	e.Function = newFunction(c, e, p, cfg, code, role, logGroup)
	newAsyncConfig(c, e, role)
	e.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(e.SweepQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(sweepBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          p.SweepMaxConcurrency,
	}))
	e.Rule, e.BaselineChangeRule, e.ReconcileRule = newRules(c, e, p, cfg.ParameterName)
	newOrganization(c, id, e, p, cfg, role)
	e.Alarms = newAlarms(c, e, p.AlarmTopic)
	e.Dashboard = newDashboard(c, id, e, p.DashboardName)
	newOutputs(c, id, e)
	suppressNagFindings(e, role)
	return e
}

func newParameter(c constructs.Construct, p EnforcerProps, name string, tier awsssm.ParameterTier) awsssm.IStringParameter {
	if p.EncryptionKey != nil {
		return awsssm.StringParameter_FromSecureStringParameterAttributes(c, jsii.String("Parameter"),
			&awsssm.SecureStringParameterAttributes{
				ParameterName: jsii.String(name),
				EncryptionKey: p.EncryptionKey,
			})
	}
	param := awsssm.NewStringParameter(c, jsii.String("Parameter"), &awsssm.StringParameterProps{
		ParameterName: jsii.String(name),
		StringValue:   p.PolicyText,
		Tier:          tier,
		Description:   jsii.String("ecr-baseline: baseline ECR repository policy template"),
	})
	param.ApplyRemovalPolicy(p.ParameterRemovalPolicy)
	return param
}

// newRole is an explicit role instead of the default
// AWSLambdaBasicExecutionRole, which allows writing to every log group in
// the account: one statement per thing the function does.
func newRole(c constructs.Construct, e *Enforcer, logGroup awslogs.LogGroup, key awskms.IKey) awsiam.Role {
	stack := awscdk.Stack_Of(c)
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("ecr-baseline enforcer"),
	})
	addStatement(role, "WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, logGroup.LogGroupArn())
	addStatement(role, "ReadBaseline", []string{"ssm:GetParameter"}, e.Parameter.ParameterArn())
	// The ECR calls the enforcer makes, listed once in pkg/policy, where the
	// lock-out guard refuses a baseline that denies any of them.
	addStatement(role, "EnforceRepositoryPolicy", policy.EnforcerActions, stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecr"),
		Resource:     jsii.String("repository"),
		ResourceName: jsii.String("*"),
	}))
	addStatement(role, "ReportFailure", []string{"sqs:SendMessage"}, e.FailureQueue.QueueArn())
	// A sweep queues its pages and repositories (SendMessageBatch is
	// authorised as sqs:SendMessage), and sends an item that failed its
	// last receive to the dead-letter queue with the reason. The event
	// source mapping adds what consuming the queue takes.
	addStatement(role, "QueueSweepItems", []string{"sqs:SendMessage"}, e.SweepQueue.QueueArn())
	addStatement(role, "DeadLetterSweepItems", []string{"sqs:SendMessage"}, e.SweepDeadLetterQueue.QueueArn())
	// Put only: the function never reads the archive back (restore runs
	// with the operator's credentials) and must not be able to delete or
	// overwrite a record's earlier versions.
	addStatement(role, "ArchivePolicies", []string{"s3:PutObject"}, e.Archive.ArnForObjects(jsii.String("*")))
	if key != nil {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DecryptBaseline"),
			Actions:   jsii.Strings("kms:Decrypt"),
			Resources: jsii.Strings(*key.KeyArn()),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{
					"kms:ViaService": fmt.Sprintf("ssm.%s.amazonaws.com", *stack.Region()),
				},
			},
		}))
	}
	return role
}

func newFunction(c constructs.Construct, e *Enforcer, p EnforcerProps, cfg envconfig.Config, code awslambda.Code,
	role awsiam.Role, logGroup awslogs.LogGroup) awslambda.Function {
	// The tunable props, defaults and overrides, are in p.FunctionProps;
	// checkProps refused an override of any field set here.
	props := *p.FunctionProps
	props.Runtime = awslambda.Runtime_PROVIDED_AL2023()
	props.Architecture = awslambda.Architecture_ARM_64()
	props.Handler = jsii.String("bootstrap")
	props.Code = code
	props.Role = role
	props.LogGroup = logGroup
	props.LoggingFormat = awslambda.LoggingFormat_JSON
	props.ApplicationLogLevelV2 = awslambda.ApplicationLogLevel_INFO
	props.SystemLogLevelV2 = awslambda.SystemLogLevel_WARN
	props.Environment = environment(cfg, e, role)
	fn := awslambda.NewFunction(c, jsii.String("Function"), &props)
	// The function L2 adds DependsOn its role next to the GetAtt of the
	// role's ARN (the DependsOn also covers the role's policy); cfn-lint
	// warns that the role half is redundant, which is true and harmless.
	fn.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
		"config": map[string]interface{}{"ignore_checks": []string{"W3005"}},
	})
	return fn
}

// environment is every setting of the table in the text the function
// parses back, with those the stack knows itself: the parameter, the
// archive bucket and the sweep queues, by reference, and the function's
// own role, whose policy writes come back as SetRepositoryPolicy events
// the function skips.
func environment(cfg envconfig.Config, e *Enforcer, role awsiam.Role) *map[string]*string {
	env := map[string]*string{}
	for _, s := range envconfig.Settings {
		if s.Context != "" {
			env[s.Env] = jsii.String(s.Format(cfg))
		}
	}
	env[envconfig.ParameterName.Env] = e.Parameter.ParameterName()
	env[envconfig.ArchiveBucket.Env] = e.Archive.BucketName()
	env[envconfig.SweepQueueURL.Env] = e.SweepQueue.QueueUrl()
	env[envconfig.SweepDeadLetterQueueURL.Env] = e.SweepDeadLetterQueue.QueueUrl()
	env[envconfig.SweepMaxReceiveCount.Env] = jsii.String(fmt.Sprint(sweepMaxReceiveCount))
	env[envconfig.SelfRoleARN.Env] = role.RoleArn()
	return &env
}

// newAsyncConfig is the L1 resource, not the function's OnFailure prop: the
// L2 SQS destination also grants sqs:GetQueueAttributes and
// sqs:GetQueueUrl, which Lambda does not need to deliver a failure record.
func newAsyncConfig(c constructs.Construct, e *Enforcer, role awsiam.Role) {
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
}

// newRules returns the repository rule, the baseline rule and the
// reconciliation schedule, all delivering to the function with the same
// retries and dead-letter queue.
func newRules(c constructs.Construct, e *Enforcer, p EnforcerProps, parameterName string) (awsevents.Rule, awsevents.Rule, awsevents.Rule) {
	// p.RuleProps holds the overrides; checkProps refused any of the
	// fields set here.
	newRule := func(id, description string, pattern *awsevents.EventPattern, schedule awsevents.Schedule) awsevents.Rule {
		props := *p.RuleProps
		props.Description, props.EventPattern, props.Schedule = jsii.String(description), pattern, schedule
		return awsevents.NewRule(c, jsii.String(id), &props)
	}
	repository := newRule("RepositoryEventsRule",
		"ecr-baseline: successful ECR repository creations, policy changes and tag changes", EventPattern(), nil)
	// The parameter's name, not its Ref: the name is known here in both
	// parameter modes, and the pattern stays plain JSON.
	baseline := newRule("BaselineChangeRule", "ecr-baseline: changes to the baseline parameter",
		BaselineChangePattern(parameterName), nil)
	reconcile := newRule("ReconcileRule", "ecr-baseline: scheduled sweep that catches what events missed",
		nil, p.ReconcileSchedule)
	for _, rule := range []awsevents.Rule{repository, baseline, reconcile} {
		props := &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: e.RuleDeadLetterQueue,
			RetryAttempts:   jsii.Number(ruleRetryAttempts),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(ruleMaxEventAge.Seconds())),
		}
		if rule == reconcile {
			// The function's APPLY_TO_EXISTING_REPOSITORIES, not the
			// payload, decides whether it writes.
			props.Event = awsevents.RuleTargetInput_FromObject(map[string]string{"action": handler.ActionReconcile})
		}
		rule.AddTarget(awseventstargets.NewLambdaFunction(e.Function, props))
	}
	return repository, baseline, reconcile
}

// newAlarms returns the alarms, each notifying topic, when there is one,
// as it fires and as it clears: the clearing tells whoever was paged that
// the queue was drained or the errors stopped.
func newAlarms(c constructs.Construct, e *Enforcer, topic awssns.ITopic) []awscloudwatch.Alarm {
	alarms := []awscloudwatch.Alarm{
		newAlarm(c, "FunctionErrors", "ecr-baseline: the enforcer function failed",
			e.Function.MetricErrors(every5Minutes("Sum"))),
		newAlarm(c, "RuleDeadLetters", "ecr-baseline: EventBridge could not deliver events to the function; see the rule dead-letter queue",
			e.RuleDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(every5Minutes("Maximum"))),
		newAlarm(c, "FunctionFailures", "ecr-baseline: the function gave up on events; see the failure queue",
			e.FailureQueue.MetricApproximateNumberOfMessagesVisible(every5Minutes("Maximum"))),
		newAlarm(c, "SweepDeadLetters", "ecr-baseline: sweep items failed for good; see the sweep dead-letter queue (each message is the item, with its reason as a message attribute), and once fixed redrive it with the sweep queue as a custom destination (SweepQueueArn output)",
			e.SweepDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(every5Minutes("Maximum"))),
		// The function's own metric (pkg/metrics, Embedded Metric Format)
		// also sees a sweep's repositories that failed for good, whose
		// batches end successfully and so never count as Lambda errors.
		newAlarm(c, "RepositoryFailures", "ecr-baseline: repositories could not be enforced; see the function's log for each repository and reason",
			ownMetric(e, metrics.Failed)),
		// Anyone who may tag a repository can exempt it, so each new
		// exemption is worth a look; the WARN log line says who tagged it.
		newAlarm(c, "ExemptedByTag", "ecr-baseline: a repository was newly exempted by its tag; see the function's WARN log for the repository and who tagged it",
			ownMetric(e, metrics.ExemptedByTag)),
	}
	if topic != nil {
		action := awscloudwatchactions.NewSnsAction(topic)
		for _, a := range alarms {
			a.AddAlarmAction(action)
			a.AddOkAction(action)
		}
	}
	return alarms
}

// every5Minutes is a metric's statistic over five minutes, the period of
// every alarm and graph: short enough to page soon, long enough for a
// sweep's counts to be read as a rate.
func every5Minutes(statistic string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String(statistic)}
}

// ownMetric is one of the function's own metrics (pkg/metrics), summed
// over five minutes.
func ownMetric(e *Enforcer, name string) awscloudwatch.Metric {
	opts := every5Minutes("Sum")
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(metrics.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{metrics.DimensionFunctionName: e.Function.FunctionName()},
		Period:        opts.Period,
		Statistic:     opts.Statistic,
	})
}

// newArchive is the bucket of replaced policies, retained with the stack
// by default (p.ArchiveRemovalPolicy). Versioned, so a record overwritten
// by a retried write keeps its earlier version; both versions expire
// after p.ArchiveRetention.
func newArchive(c constructs.Construct, p EnforcerProps) awss3.Bucket {
	retention := p.ArchiveRetention
	return awss3.NewBucket(c, jsii.String("Archive"), &awss3.BucketProps{
		Versioned:         jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     p.ArchiveRemovalPolicy,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          jsii.String("ExpireArchivedPolicies"),
			Expiration:                  retention,
			NoncurrentVersionExpiration: retention,
		}},
	})
}

// newQueue is a queue of the construct: p.QueueProps (by default kept as
// long as SQS allows, so a sweep held up for a while still finishes and
// a dead letter waits for someone to read the alarm), encrypted and
// TLS-only. With deadLetters it is the sweep queue, which the function
// consumes.
func newQueue(scope constructs.Construct, id string, p EnforcerProps, deadLetters awssqs.IQueue) awssqs.Queue {
	props := *p.QueueProps
	// SQS-managed encryption rather than KMS: EventBridge cannot send to a
	// queue encrypted with the AWS managed aws/sqs key.
	props.Encryption = awssqs.QueueEncryption_SQS_MANAGED
	props.EnforceSSL = jsii.Bool(true)
	props.RemovalPolicy = p.QueueRemovalPolicy
	if deadLetters != nil {
		timeout := *p.FunctionProps.Timeout.ToSeconds(nil)
		props.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(sweepVisibilityFactor * timeout))
		props.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: deadLetters, MaxReceiveCount: jsii.Number(sweepMaxReceiveCount)}
	}
	return awssqs.NewQueue(scope, jsii.String(id), &props)
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
