package ecrbaseline

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/outputs"
)

// notOutputName is what CloudFormation refuses in an output's logical ID.
var notOutputName = regexp.MustCompile(`[^A-Za-z0-9]`)

// newOutputs adds the stack outputs operators and scripts need: the
// function to invoke for a sweep, the parameter to change, the bucket
// restore reads and the queues to look into. CDK would name an output
// inside a construct with a hash of its path; these are the construct's id
// and the name (EnforcerFunctionName for id "Enforcer"), so people and
// scripts can find them, and two Enforcers with different ids do not
// collide. The CLI's --stack (outputs.Find) and scripts/sweep.sh find the
// function by the name's ending and the description's prefix.
func newOutputs(c constructs.Construct, id string, e *Enforcer) {
	addOutputs(c, id, []output{
		{outputs.FunctionName, "the enforcer Lambda", e.Function.FunctionName()},
		{"ParameterName", "the SSM parameter holding the baseline policy template", e.Parameter.ParameterName()},
		{"ArchiveBucketName", "the S3 bucket of archived repository policies, which restore reads", e.Archive.BucketName()},
		{"RuleDeadLetterQueueUrl", "events EventBridge could not deliver to the function", e.RuleDeadLetterQueue.QueueUrl()},
		{"FailureQueueUrl", "events the function failed on after its retries", e.FailureQueue.QueueUrl()},
		{"SweepQueueUrl", "the queue sweeps run on: its depth and oldest message are a sweep's progress", e.SweepQueue.QueueUrl()},
		{"SweepQueueArn", "the sweep queue, the destination to redrive its dead-letter queue to", e.SweepQueue.QueueArn()},
		{"SweepDeadLetterQueueUrl", "sweep items that failed every delivery, each with its reason", e.SweepDeadLetterQueue.QueueUrl()},
		{"DashboardName", "the CloudWatch dashboard: alarms, outcomes, sweep progress, dead letters, errors and duration", e.Dashboard.DashboardName()},
	})
}

// newOrganizationOutputs are what the member stacks are deployed with:
// the hub's bus they forward to and the role their member role trusts.
func newOrganizationOutputs(c constructs.Construct, id string, e *Enforcer, role awsiam.IRole) {
	addOutputs(c, id, []output{
		{"EventBusName", "the event bus member accounts forward repository events to (member template parameter HubEventBusName)", e.EventBus.EventBusName()},
		{"EventBusArn", "the event bus member accounts forward repository events to", e.EventBus.EventBusArn()},
		{"RoleArn", "the function's role, which the member role trusts (member template parameter HubRoleArn)", role.RoleArn()},
	})
}

// output is one stack output: its name after the construct's id, what it
// is, and its value.
type output struct {
	name, description string
	value             *string
}

func addOutputs(c constructs.Construct, id string, outs []output) {
	prefix := notOutputName.ReplaceAllString(id, "")
	for _, o := range outs {
		out := awscdk.NewCfnOutput(c, jsii.String(o.name), &awscdk.CfnOutputProps{
			Value:       o.value,
			Description: jsii.String(outputs.DescriptionPrefix + o.description),
		})
		out.OverrideLogicalId(jsii.String(prefix + o.name))
	}
}
