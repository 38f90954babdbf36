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
			"so its name is only known at run time, and a sweep lists and enforces every " +
			"repository. The wildcard is limited to " +
			"repositories of this account and region, and to the ECR actions the function calls."),
		AppliesTo: &[]interface{}{
			"Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*",
		},
	}, {
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The function archives the policy of whichever repository it writes, " +
			"one new object per write under a key made of account, region, repository and time, " +
			"so the keys are only known at run time. The wildcard covers objects of the archive " +
			"bucket only, and the only action is s3:PutObject: no read, no delete."),
		AppliesTo: &[]interface{}{
			// The bucket's logical id depends on where the construct is
			// embedded; CDK ends it with a hash of 8 hex digits.
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<.*Archive[0-9A-F]{8}\.Arn>\/\*$/`)},
		},
	}}, jsii.Bool(true))

	cdknag.NagSuppressions_AddResourceSuppressions(e.Archive, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("Server access logs would need a second bucket, itself unlogged, to record " +
			"writes that are already recorded: the function logs every archived write with its key " +
			"(the enforced log line), only the function's role may put objects, versioning keeps " +
			"every version, and CloudTrail S3 data events can be turned on for the bucket where an " +
			"audit needs reads recorded too."),
	}}, jsii.Bool(true))
}
