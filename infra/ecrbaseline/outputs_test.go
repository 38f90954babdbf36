package ecrbaseline

import (
	"fmt"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
)

// TestOutputs: the stack outputs carry the construct's id, not a hash, so
// scripts/sweep.sh and the READMEs can name them.
func TestOutputs(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	diff(t, "Outputs", s.json["Outputs"], fmt.Sprintf(`{
		"EnforcerFunctionName": {"Description": "ecr-baseline: the enforcer Lambda", "Value": {"Ref": %q}},
		"EnforcerParameterName": {"Description": "ecr-baseline: the SSM parameter holding the baseline policy template", "Value": {"Ref": %q}},
		"EnforcerArchiveBucketName": {"Description": "ecr-baseline: the S3 bucket of archived repository policies, which restore reads", "Value": {"Ref": %q}},
		"EnforcerRuleDeadLetterQueueUrl": {"Description": "ecr-baseline: events EventBridge could not deliver to the function", "Value": {"Ref": %q}},
		"EnforcerFailureQueueUrl": {"Description": "ecr-baseline: events the function failed on after its retries", "Value": {"Ref": %q}},
		"EnforcerSweepQueueUrl": {"Description": "ecr-baseline: the queue sweeps run on: its depth and oldest message are a sweep's progress", "Value": {"Ref": %q}},
		"EnforcerSweepQueueArn": {"Description": "ecr-baseline: the sweep queue, the destination to redrive its dead-letter queue to", "Value": {"Fn::GetAtt": [%q, "Arn"]}},
		"EnforcerSweepDeadLetterQueueUrl": {"Description": "ecr-baseline: sweep items that failed every delivery, each with its reason", "Value": {"Ref": %q}},
		"EnforcerDashboardName": {"Description": "ecr-baseline: the CloudWatch dashboard: alarms, outcomes, sweep progress, dead letters, errors and duration", "Value": {"Ref": %q}}
	}`, cdktest.LogicalID(e.Function), cdktest.LogicalID(e.Parameter), cdktest.LogicalID(e.Archive),
		cdktest.LogicalID(e.RuleDeadLetterQueue), cdktest.LogicalID(e.FailureQueue),
		cdktest.LogicalID(e.SweepQueue), cdktest.LogicalID(e.SweepQueue), cdktest.LogicalID(e.SweepDeadLetterQueue), cdktest.LogicalID(e.Dashboard)))
}
