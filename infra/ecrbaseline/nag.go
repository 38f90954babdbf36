package ecrbaseline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppressNagFindings records, on the resources themselves, why the
// AwsSolutions findings cdk-nag raises on this construct are accepted, so
// an embedding stack that runs cdk-nag gets the same answers.
func suppressNagFindings(e *Enforcer, role awsiam.Role) {
	for _, q := range []struct {
		queue interface{}
		role  string
	}{
		{e.RuleDeadLetterQueue, "the dead-letter queue of the EventBridge rule's target"},
		{e.FailureQueue, "the on-failure destination of the function's asynchronous invocations"},
	} {
		cdknag.NagSuppressions_AddResourceSuppressions(q.queue, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-SQS3"),
			Reason: jsii.String("This queue is itself a dead-letter queue (" + q.role + "); " +
				"nothing consumes it, so there is nothing to redrive, and an alarm fires on its depth."),
		}}, jsii.Bool(true))
	}

	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The function sets the policy of whichever repository an event names, " +
			"so its name is only known at run time, and backfill and the re-enforcement after a " +
			"baseline change list and enforce every repository. The wildcard is limited to " +
			"repositories of this account and region, and to the ECR actions the function calls."),
		AppliesTo: &[]interface{}{
			"Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*",
		},
	}}, jsii.Bool(true))
}
