package ecrbaseline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/ssmevent"
)

// baselineOperations are the Parameter Store changes that make the function
// drop its cached baseline and re-enforce every repository.
// LabelParameterVersion changes no value, so it is left out.
var baselineOperations = []string{"Create", "Update", "Delete"}

// EventPattern matches the CloudTrail records of successful ECR calls that
// create a repository, change its policy or change its tags, in the account
// and region of the rule. Repositories ECR creates itself arrive
// differently: pull-through cache creations as "AWS Service Event via
// CloudTrail", replicated ones from replication.ecr.amazonaws.com. Tags
// matter because one may exempt the repository: removing it or changing its
// value must bring the baseline back; the function reads the tags again, so
// a tag change that still exempts is a no-op. A failed call carries
// errorCode and changed nothing, so it is left out. The function's own
// SetRepositoryPolicy calls match too; it recognises its role in them and
// skips them. The values are the parser's own (pkg/ecrevent), so the rule
// sends exactly what the function reads.
func EventPattern() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings(ecrevent.SourceECR),
		DetailType: jsii.Strings(ecrevent.DetailTypeAPICall, ecrevent.DetailTypeServiceEvent),
		Detail: &map[string]interface{}{
			"eventSource": []string{ecrevent.EventSourceECR, ecrevent.EventSourceReplication},
			"eventName": []string{ecrevent.EventCreateRepo, ecrevent.EventSetRepoPolicy, ecrevent.EventDeleteRepoPolicy,
				ecrevent.EventTagResource, ecrevent.EventUntagResource},
			"errorCode": []interface{}{map[string]interface{}{"exists": false}},
		},
	}
}

// BaselineChangePattern matches Parameter Store's change events for the
// parameter named parameterName, on which the function drops its cached
// baseline and re-enforces every repository.
func BaselineChangePattern(parameterName string) *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings(ssmevent.Source),
		DetailType: jsii.Strings(ssmevent.DetailType),
		Detail: &map[string]interface{}{
			"name":      []string{parameterName},
			"operation": baselineOperations,
		},
	}
}
