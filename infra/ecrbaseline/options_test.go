package ecrbaseline

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

const alarmTopicARN = "arn:aws:sns:eu-west-1:123456789012:platform-alarms"

// optionsText is the baseline of the options stack: it needs the
// advanced tier and locks the account out.
var optionsText = strings.Replace(bigPolicy(6000), `"ecr:DeleteRepository"`, `"ecr:*"`, 1)

// options is the Enforcer with every option set at once, to keep to one
// synthesis: a baseline deployed with force in merge mode, every setting,
// an alarm topic, every removal policy the other way round from its
// default, and an override of each kind.
var options = shared("options enforcer", func(stack awscdk.Stack) *EnforcerProps {
	return &EnforcerProps{
		PolicyText: jsii.String(optionsText),
		Settings: map[string]string{
			"parameterName": "/platform/ecr/baseline", "dryRun": "true", "cacheTTL": "90s", "enforcementMode": "merge",
			"force": "true", "exemptTag": "", "exemptRepositories": " sandbox/*, legacy-*", "readTps": "2.5", "writeTps": "1",
			"backfillConcurrency": "3",
			"allowedPrincipals":   "111122223333", "applyToExistingRepositories": "true",
		},
		AlarmTopic:             awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String(alarmTopicARN)),
		DashboardName:          jsii.String("platform-ecr-baseline"),
		ArchiveRetention:       awscdk.Duration_Days(jsii.Number(30)),
		SweepMaxConcurrency:    jsii.Number(20),
		ReconcileSchedule:      awsevents.Schedule_Expression(jsii.String("cron(0 3 ? * MON *)")),
		QueueRemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LogRemovalPolicy:       awscdk.RemovalPolicy_DESTROY,
		ParameterRemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		ArchiveRemovalPolicy:   awscdk.RemovalPolicy_DESTROY,
		FunctionProps: &awslambda.FunctionProps{
			MemorySize:                   jsii.Number(256),
			Timeout:                      awscdk.Duration_Minutes(jsii.Number(5)),
			ReservedConcurrentExecutions: jsii.Number(25),
		},
		QueueProps: &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(4))},
		RuleProps:  &awsevents.RuleProps{Enabled: jsii.Bool(false)},
	}
})

func TestOptionsAndAdvancedTier(t *testing.T) {
	s := options(t)
	e := s.enforcer
	esm := s.json.Resource(t, "AWS::Lambda::EventSourceMapping", s.json.LogicalIDs("AWS::Lambda::EventSourceMapping")[0])
	diff(t, "sweep concurrency", esm["ScalingConfig"], `{"MaximumConcurrency": 20}`)
	diff(t, "reconcile schedule", s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(e.ReconcileRule))["ScheduleExpression"],
		`"cron(0 3 ? * MON *)"`)
	p := s.json.Resource(t, "AWS::SSM::Parameter", cdktest.LogicalID(e.Parameter))
	diff(t, "tier", p["Tier"], `"Advanced"`)
	diff(t, "name", p["Name"], `"/platform/ecr/baseline"`)
	if p["Value"] != optionsText {
		t.Error("parameter value is not the policy text")
	}
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))
	diff(t, "environment", fn["Environment"], `{"Variables": {
		"BASELINE_PARAMETER_NAME": `+ref(cdktest.LogicalID(e.Parameter))+`,
		"BASELINE_CACHE_TTL": "1m30s", "DRY_RUN": "true",
		"ENFORCEMENT_MODE": "merge", "FORCE": "true", "EXEMPT_TAG": "", "EXEMPT_REPOSITORIES": "sandbox/*,legacy-*",
		"ECR_READ_TPS": "2.5", "ECR_WRITE_TPS": "1", "BACKFILL_CONCURRENCY": "3",
		"ALLOWED_PRINCIPALS": "111122223333", "ALLOW_PUBLIC": "false", "APPLY_TO_EXISTING_REPOSITORIES": "true",
		"MEMBER_ACCOUNTS": "", "MEMBER_ORGANIZATIONAL_UNITS": "", "MEMBER_REGIONS": "", "MEMBER_ROLE_NAME": "ecr-baseline-member",
		"ORGANIZATION_ID": "",
		"ARCHIVE_BUCKET": `+ref(cdktest.LogicalID(e.Archive))+`,
		"SWEEP_QUEUE_URL": `+ref(cdktest.LogicalID(e.SweepQueue))+`,
		"SWEEP_DEAD_LETTER_QUEUE_URL": `+ref(cdktest.LogicalID(e.SweepDeadLetterQueue))+`, "SWEEP_MAX_RECEIVE_COUNT": "5",
		"SELF_ROLE_ARN": `+getAtt(cdktest.LogicalID(e.Function.Role()), "Arn")+`}}`)
	bucket := s.json.Resource(t, "AWS::S3::Bucket", cdktest.LogicalID(e.Archive))
	diff(t, "archive lifecycle", bucket["LifecycleConfiguration"], archiveLifecycle(30))
	rule := s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(e.BaselineChangeRule))
	diff(t, "baseline rule name", rule["EventPattern"].(map[string]any)["detail"].(map[string]any)["name"], `["/platform/ecr/baseline"]`)

	cfg := loadEnvironment(t, s, "/platform/ecr/baseline")
	want := envconfig.Config{
		ParameterName: "/platform/ecr/baseline", CacheTTL: 90 * time.Second, DryRun: true,
		ReadTPS: 2.5, WriteTPS: 1, Concurrency: 3, Mode: "merge", Force: true,
		ExemptGlobs: []string{"sandbox/*", "legacy-*"}, AllowedPrincipals: []string{"111122223333"}, SelfRoleARN: roleARN,
		ApplyToExisting: true, ArchiveBucket: archiveBucket, MemberRoleName: "ecr-baseline-member",
		SweepQueueURL: sweepQueueURL, SweepDeadLetterQueueURL: sweepDeadLetterURL, SweepMaxReceiveCount: 5,
	}
	if d := cmp.Diff(want, cfg); d != "" {
		t.Errorf("function settings (-want +got):\n%s", d)
	}
}

// TestOverrides: each override reaches its resources, over the defaults,
// and the sweep queue's visibility follows the function's timeout.
func TestOverrides(t *testing.T) {
	s := options(t)
	e := s.enforcer
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))
	for _, tc := range []struct {
		what string
		got  any
		want string
	}{
		{"memory", fn["MemorySize"], `256`},
		{"timeout", fn["Timeout"], `300`},
		{"reserved concurrency", fn["ReservedConcurrentExecutions"], `25`},
		{"description, a default kept", fn["Description"], `"ecr-baseline: applies the baseline policy to ECR repositories"`},
		{"sweep visibility, six times the timeout", s.json.Resource(t, "AWS::SQS::Queue", cdktest.LogicalID(e.SweepQueue))["VisibilityTimeout"], `1800`},
	} {
		diff(t, tc.what, tc.got, tc.want)
	}
	for _, q := range []awssqs.Queue{e.RuleDeadLetterQueue, e.FailureQueue, e.SweepQueue, e.SweepDeadLetterQueue} {
		queue := s.json.Resource(t, "AWS::SQS::Queue", cdktest.LogicalID(q))
		diff(t, cdktest.LogicalID(q)+" retention", queue["MessageRetentionPeriod"], `345600`)
		diff(t, cdktest.LogicalID(q)+" encryption, the construct's", queue["SqsManagedSseEnabled"], `true`)
	}
	for _, r := range []awsevents.Rule{e.Rule, e.BaselineChangeRule, e.ReconcileRule} {
		diff(t, cdktest.LogicalID(r)+" state", s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(r))["State"], `"DISABLED"`)
	}
}

// TestRemovalPolicies: the defaults keep what cannot be rebuilt (the
// archive, the logs) and delete the rest; each prop turns its resources
// the other way.
func TestRemovalPolicies(t *testing.T) {
	for _, tc := range []struct {
		name                             string
		synth                            func(*testing.T) *synthesized
		queues, logs, parameter, archive string
	}{
		{"defaults", defaults, "Delete", "Retain", "Delete", "Retain"},
		{"options", options, "Retain", "Delete", "Retain", "Delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.synth(t)
			e := s.enforcer
			want := map[string]string{
				cdktest.LogicalID(e.Parameter):              tc.parameter,
				cdktest.LogicalID(e.Archive):                tc.archive,
				s.json.LogicalIDs("AWS::Logs::LogGroup")[0]: tc.logs,
			}
			for _, q := range []awssqs.Queue{e.RuleDeadLetterQueue, e.FailureQueue, e.SweepQueue, e.SweepDeadLetterQueue} {
				want[cdktest.LogicalID(q)] = tc.queues
			}
			for id, policy := range want {
				r := s.json["Resources"].(map[string]any)[id].(map[string]any)
				if r["DeletionPolicy"] != policy || r["UpdateReplacePolicy"] != policy {
					t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want %s", id, r["DeletionPolicy"], r["UpdateReplacePolicy"], policy)
				}
			}
		})
	}
}

// TestAlarmTopicWiresEveryAlarm: with AlarmTopic, every alarm of the
// template — not only those in Enforcer.Alarms — notifies the topic when
// it fires and when it clears; without it, none has an action.
func TestAlarmTopicWiresEveryAlarm(t *testing.T) {
	for _, tc := range []struct {
		name    string
		synth   func(*testing.T) *synthesized
		actions any
	}{
		{"no topic", defaults, nil},
		{"AlarmTopic", options, []any{alarmTopicARN}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.synth(t)
			ids := s.json.LogicalIDs("AWS::CloudWatch::Alarm")
			if len(ids) != len(s.enforcer.Alarms) {
				t.Errorf("%d alarms in the template, %d in Enforcer.Alarms", len(ids), len(s.enforcer.Alarms))
			}
			for _, id := range ids {
				alarm := s.json.Resource(t, "AWS::CloudWatch::Alarm", id)
				for _, key := range []string{"AlarmActions", "OKActions"} {
					if d := cmp.Diff(tc.actions, alarm[key]); d != "" {
						t.Errorf("%s %s (-want +got):\n%s", id, key, d)
					}
				}
			}
		})
	}
}

// TestOwnedFieldsAreFields: a field the construct owns that CDK renamed
// would no longer be refused, and its override would be silently merged.
func TestOwnedFieldsAreFields(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		owned owned
	}{
		{reflect.TypeFor[awslambda.FunctionProps](), functionOwned},
		{reflect.TypeFor[awssqs.QueueProps](), queueOwned},
		{reflect.TypeFor[awsevents.RuleProps](), ruleOwned},
	} {
		for field := range tc.owned {
			if _, ok := tc.typ.FieldByName(field); !ok {
				t.Errorf("%s has no field %s", tc.typ, field)
			}
		}
	}
}

func TestWithOverrides(t *testing.T) {
	defaults := awssqs.QueueProps{QueueName: jsii.String("default"), Fifo: jsii.Bool(true)}
	for _, tc := range []struct {
		name      string
		overrides *awssqs.QueueProps
		want      awssqs.QueueProps
	}{
		{"none", nil, defaults},
		{"empty", &awssqs.QueueProps{}, defaults},
		{"one field replaced, the other kept", &awssqs.QueueProps{Fifo: jsii.Bool(false)},
			awssqs.QueueProps{QueueName: jsii.String("default"), Fifo: jsii.Bool(false)}},
		{"a field added", &awssqs.QueueProps{MaxMessageSizeBytes: jsii.Number(1024)},
			awssqs.QueueProps{QueueName: jsii.String("default"), Fifo: jsii.Bool(true), MaxMessageSizeBytes: jsii.Number(1024)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(&tc.want, withOverrides(defaults, tc.overrides)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if *defaults.Fifo != true {
		t.Error("withOverrides changed the defaults it was given")
	}
}
