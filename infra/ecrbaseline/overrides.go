package ecrbaseline

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/app"
)

// owned lists, by field, the props of an override the construct sets
// itself, and why: a field a user could set there would break what the
// construct promises (the role's exact policy, the function's settings,
// the metrics its alarms read, where failures go).
type owned map[string]string

// own returns owned with every field of fields set to why.
func (o owned) own(why string, fields ...string) owned {
	for _, f := range fields {
		o[f] = why
	}
	return o
}

var (
	functionOwned = owned{}.
			own("set CodePath, or leave it empty to build the function at synth", "Code").
			own("the function is a Go bootstrap for provided.al2023 on arm64", "Handler", "Runtime", "Architecture").
			own("its role allows exactly the calls the function makes", "Role").
			own("the function's settings are the Settings prop", "Environment").
			own("the construct makes the log group: set LogRetention and LogRemovalPolicy",
			"LogGroup", "LogRetention", "LogRetentionRetryOptions", "LogRetentionRole", "LogRemovalPolicy").
		own("JSON logs at INFO carry the metrics the alarms and the dashboard read (EMF lines have no level)",
			"LoggingFormat", "LogFormat", "ApplicationLogLevel", "ApplicationLogLevelV2", "SystemLogLevel", "SystemLogLevelV2").
		own("the construct retries failed events and sends them to FailureQueue",
			"OnFailure", "OnSuccess", "MaxEventAge", "RetryAttempts", "DeadLetterQueue", "DeadLetterQueueEnabled", "DeadLetterTopic").
		own("the construct adds the sweep queue's event source; add others to Enforcer.Function", "Events")
	queueOwned = owned{}.
			own("the construct makes four queues", "QueueName").
			own("set QueueRemovalPolicy", "RemovalPolicy").
			own("SSE-SQS: EventBridge cannot send to a queue under the AWS managed key, and the role's grants cover no customer key",
			"Encryption", "EncryptionMasterKey", "DataKeyReuse").
		own("the queues refuse requests without TLS", "EnforceSSL").
		own("the queues are standard queues: dead-letter deliveries and sweep items carry no message group",
			"Fifo", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit").
		own("the sweep queue's redrive and visibility follow the function (FunctionProps.Timeout)",
			"DeadLetterQueue", "VisibilityTimeout")
	ruleOwned = owned{}.
			own("each rule matches what the function handles; set ReconcileSchedule for the schedule", "EventPattern", "Schedule").
			own("every rule targets the function", "Targets").
			own("the construct makes three rules, four in organisation mode", "RuleName", "Description").
			own("ECR and SSM send their events to the default bus, the only one a schedule runs on (in organisation mode the members' rule is on the construct's own bus)", "EventBus")
)

// resolveOverrides refuses an override of a field the construct owns and
// sets p's overrides to the construct's defaults with the user's fields
// over them, so each resource is built from one struct.
func resolveOverrides(p *EnforcerProps) error {
	err := errors.Join(
		checkOverrides("FunctionProps", p.FunctionProps, functionOwned),
		checkOverrides("QueueProps", p.QueueProps, queueOwned),
		checkOverrides("RuleProps", p.RuleProps, ruleOwned),
	)
	if err != nil {
		return err
	}
	p.FunctionProps = withOverrides(awslambda.FunctionProps{
		Description: jsii.String("ecr-baseline: applies the baseline policy to ECR repositories"),
		MemorySize:  jsii.Number(128),
		Timeout:     awscdk.Duration_Seconds(jsii.Number(functionTimeout.Seconds())),
	}, p.FunctionProps)
	p.QueueProps = withOverrides(awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(queueRetention.Seconds())),
	}, p.QueueProps)
	p.RuleProps = withOverrides(awsevents.RuleProps{}, p.RuleProps)

	// A sweep batch stops starting items app.StopBefore ahead of the
	// deadline: a function with no more time than that would take items
	// off the queue and never start one.
	millis := *p.FunctionProps.Timeout.ToMilliseconds(nil)
	if millis <= float64(app.StopBefore.Milliseconds()) {
		return fmt.Errorf("FunctionProps.Timeout must be longer than %s, got %s: a sweep batch starts no item in the last %s of an invocation",
			app.StopBefore, *p.FunctionProps.Timeout.ToHumanString(), app.StopBefore)
	}
	return nil
}

// checkOverrides refuses every field of overrides, a CDK props struct, that
// is set and owned.
func checkOverrides[T any](name string, overrides *T, own owned) error {
	if overrides == nil {
		return nil
	}
	v := reflect.ValueOf(overrides).Elem()
	var errs []error
	for i := range v.NumField() {
		field := v.Type().Field(i).Name
		if why, ok := own[field]; ok && !v.Field(i).IsZero() {
			errs = append(errs, fmt.Errorf("%s.%s cannot be overridden: %s", name, field, why))
		}
	}
	return errors.Join(errs...)
}

// withOverrides returns defaults with every field set in overrides in
// place of the default's, the way AWS Solutions Constructs merge a user's
// props over theirs. jsii structs hold only pointers, interfaces and
// strings, so a zero field is one left unset.
func withOverrides[T any](defaults T, overrides *T) *T {
	if overrides != nil {
		d, o := reflect.ValueOf(&defaults).Elem(), reflect.ValueOf(overrides).Elem()
		for i := range o.NumField() {
			if f := o.Field(i); !f.IsZero() {
				d.Field(i).Set(f)
			}
		}
	}
	return &defaults
}
