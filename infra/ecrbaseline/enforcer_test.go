package ecrbaseline

import (
	"debug/elf"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var (
	tmpDir   string // removed after the tests
	codePath string // holds a dummy bootstrap
)

func TestMain(m *testing.M) {
	cdktest.Main(m, func(dir string) (err error) {
		tmpDir = dir
		codePath, err = cdktest.DummyCode(dir)
		return err
	})
}

// newStack returns an empty stack in a new app that synthesizes into dir.
func newStack(dir string) awscdk.Stack {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir)})
	return awscdk.NewStack(app, jsii.String("Test"), nil)
}

// synthesized is an Enforcer and its stack's template.
type synthesized struct {
	enforcer *Enforcer
	tmpl     assertions.Template
	json     cdktest.Template
	err      error
}

// synthesize builds the props that build returns for a fresh app's stack
// into that stack and synthesizes it.
func synthesize(t *testing.T, build func(awscdk.Stack) *EnforcerProps) *synthesized {
	t.Helper()
	// Not t.TempDir: a shared synthesis outlives the test that ran it.
	outdir, err := os.MkdirTemp(tmpDir, "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	stack := newStack(outdir)
	s := &synthesized{}
	props := build(stack)
	if props.EncryptionKey == nil && props.CodePath == nil {
		props.CodePath = jsii.String(codePath)
	}
	s.err = cdktest.Panic(t, func() { s.enforcer = NewEnforcer(stack, "Enforcer", props) })
	if s.err != nil {
		return s
	}
	cdktest.Check(t, func() { s.tmpl = assertions.Template_FromStack(stack, nil) })
	s.json = cdktest.FromAssertions(t, s.tmpl)
	return s
}

// shared returns the synthesis of build's props, made once, by the first
// test that asks for it, and shared by the tests that read it: a
// synthesis costs seconds under -race. A failed synthesis fails every
// test that asks, naming what.
func shared(what string, build func(awscdk.Stack) *EnforcerProps) func(*testing.T) *synthesized {
	var (
		once sync.Once
		s    *synthesized
	)
	return func(t *testing.T) *synthesized {
		t.Helper()
		once.Do(func() { s = synthesize(t, build) })
		if s.err != nil || s.json == nil {
			t.Fatalf("%s did not synthesize: %v", what, s.err)
		}
		return s
	}
}

// defaults is the Enforcer with only the required props: the shipped
// baseline and a dummy bootstrap.
var defaults = shared("default enforcer", func(awscdk.Stack) *EnforcerProps {
	return &EnforcerProps{PolicyText: jsii.String(policies.Baseline)}
})

// diff fails t when got, a value from the template, differs from want, a
// JSON literal.
func diff(t *testing.T, what string, got any, want string) {
	t.Helper()
	if d := cmp.Diff(cdktest.JSON(t, want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func getAtt(id, attr string) string {
	return fmt.Sprintf(`{"Fn::GetAtt": [%q, %q]}`, id, attr)
}

func ref(id string) string { return fmt.Sprintf(`{"Ref": %q}`, id) }

// ecrRepositories is arn:${Partition}:ecr:${Region}:${Account}:repository/*.
const ecrRepositories = `{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ecr:", {"Ref": "AWS::Region"},
	":", {"Ref": "AWS::AccountId"}, ":repository/*"]]}`

func TestRulesMatchRepositoryEventsAndBaselineChanges(t *testing.T) {
	s := defaults(t)
	rule := s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(s.enforcer.Rule))
	diff(t, "repository rule EventPattern", rule["EventPattern"], cdktest.RepositoryEventPattern)
	diff(t, "repository rule State", rule["State"], `"ENABLED"`)

	rule = s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(s.enforcer.BaselineChangeRule))
	diff(t, "baseline rule EventPattern", rule["EventPattern"], `{
		"source": ["aws.ssm"],
		"detail-type": ["Parameter Store Change"],
		"detail": {
			"name": ["`+envconfig.ParameterName.Default+`"],
			"operation": ["Create", "Update", "Delete"]
		}
	}`)
	diff(t, "baseline rule State", rule["State"], `"ENABLED"`)

	rule = s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(s.enforcer.ReconcileRule))
	diff(t, "reconcile rule ScheduleExpression", rule["ScheduleExpression"], `"rate(1 day)"`)
	diff(t, "reconcile rule input", rule["Targets"].([]any)[0].(map[string]any)["Input"], `"{\"action\":\"reconcile\"}"`)
	if got := s.json.LogicalIDs("AWS::Events::Rule"); len(got) != 3 {
		t.Errorf("rules: %v, want exactly three", got)
	}
}

func TestRuleTargetsRetryThenDeadLetter(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	permissionOf := map[string]map[string]any{}
	for _, id := range s.json.LogicalIDs("AWS::Lambda::Permission") {
		p := s.json.Resource(t, "AWS::Lambda::Permission", id)
		permissionOf[fmt.Sprint(p["SourceArn"])] = p
	}
	if len(permissionOf) != 3 {
		t.Errorf("Lambda permissions: %v, want one for each rule", permissionOf)
	}
	for _, r := range []awsevents.Rule{e.Rule, e.BaselineChangeRule, e.ReconcileRule} {
		ruleID := cdktest.LogicalID(r)
		rule := s.json.Resource(t, "AWS::Events::Rule", ruleID)
		input := ""
		if r == e.ReconcileRule {
			input = `"Input": "{\"action\":\"reconcile\"}",`
		}
		diff(t, ruleID+" Targets", rule["Targets"], `[{
			"Id": "Target0",
			"Arn": `+getAtt(cdktest.LogicalID(e.Function), "Arn")+`,`+input+`
			"DeadLetterConfig": {"Arn": `+getAtt(cdktest.LogicalID(e.RuleDeadLetterQueue), "Arn")+`},
			"RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
		}]`)
		source := cdktest.JSON(t, getAtt(ruleID, "Arn"))
		diff(t, ruleID+" invoke permission", permissionOf[fmt.Sprint(source)], `{
			"Action": "lambda:InvokeFunction",
			"FunctionName": `+getAtt(cdktest.LogicalID(e.Function), "Arn")+`,
			"Principal": "events.amazonaws.com",
			"SourceArn": `+getAtt(ruleID, "Arn")+`
		}`)
	}
}

func TestFunctionAsyncFailuresGoToFailureQueue(t *testing.T) {
	s := defaults(t)
	ids := s.json.LogicalIDs("AWS::Lambda::EventInvokeConfig")
	if len(ids) != 1 {
		t.Fatalf("event invoke configs: %v, want one", ids)
	}
	diff(t, "EventInvokeConfig", s.json.Resource(t, "AWS::Lambda::EventInvokeConfig", ids[0]), `{
		"FunctionName": `+ref(cdktest.LogicalID(s.enforcer.Function))+`,
		"Qualifier": "$LATEST",
		"MaximumRetryAttempts": 2,
		"MaximumEventAgeInSeconds": 21600,
		"DestinationConfig": {"OnFailure": {"Destination": `+getAtt(cdktest.LogicalID(s.enforcer.FailureQueue), "Arn")+`}}
	}`)
}

func TestRolePolicyIsExactlyWhatTheFunctionCalls(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	roleID := cdktest.LogicalID(e.Function.Role())
	role := s.json.Resource(t, "AWS::IAM::Role", roleID)
	diff(t, "role", role, `{
		"AssumeRolePolicyDocument": {
			"Version": "2012-10-17",
			"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]
		},
		"Description": "ecr-baseline enforcer"
	}`)

	policies := s.json.LogicalIDs("AWS::IAM::Policy")
	if len(policies) != 1 {
		t.Fatalf("IAM policies: %v, want only the role's default policy", policies)
	}
	pol := s.json.Resource(t, "AWS::IAM::Policy", policies[0])
	diff(t, "policy roles", pol["Roles"], `[`+ref(roleID)+`]`)
	diff(t, "policy statements", pol["PolicyDocument"], `{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
			 "Resource": `+getAtt(s.json.LogicalIDs("AWS::Logs::LogGroup")[0], "Arn")+`},
			{"Sid": "ReadBaseline", "Effect": "Allow", "Action": "ssm:GetParameter",
			 "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:", {"Ref": "AWS::Region"},
			  ":", {"Ref": "AWS::AccountId"}, ":parameter", `+ref(cdktest.LogicalID(e.Parameter))+`]]}},
			{"Sid": "EnforceRepositoryPolicy", "Effect": "Allow",
			 "Action": ["ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:ListTagsForResource", "ecr:DescribeRepositories"],
			 "Resource": `+ecrRepositories+`},
			{"Sid": "ReportFailure", "Effect": "Allow", "Action": "sqs:SendMessage",
			 "Resource": `+getAtt(cdktest.LogicalID(e.FailureQueue), "Arn")+`},
			{"Sid": "QueueSweepItems", "Effect": "Allow", "Action": "sqs:SendMessage",
			 "Resource": `+getAtt(cdktest.LogicalID(e.SweepQueue), "Arn")+`},
			{"Sid": "DeadLetterSweepItems", "Effect": "Allow", "Action": "sqs:SendMessage",
			 "Resource": `+getAtt(cdktest.LogicalID(e.SweepDeadLetterQueue), "Arn")+`},
			{"Sid": "ArchivePolicies", "Effect": "Allow", "Action": "s3:PutObject",
			 "Resource": `+archiveObjects(e)+`},
			{"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
			  "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
			 "Resource": `+getAtt(cdktest.LogicalID(e.SweepQueue), "Arn")+`}
		]
	}`)
}

// archiveObjects is the ARN of every object in the archive bucket.
func archiveObjects(e *Enforcer) string {
	return `{"Fn::Join": ["", [` + getAtt(cdktest.LogicalID(e.Archive), "Arn") + `, "/*"]]}`
}

// TestNoWildcardResourceOutsideECR walks every policy in the template: the
// only "*" in a Resource is the repository name in the ECR statement, which
// cannot be known before the repository exists, and the object key in the
// archive bucket, which names a write made at run time (in the role's
// statement and the bucket's TLS-only policy). In particular the function
// may invoke itself only, by its name, not "*".
func TestNoWildcardResourceOutsideECR(t *testing.T) {
	s := defaults(t)
	var found []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "Resource" || k == "NotResource" {
					found = append(found, path+"/"+k+" = "+flatten(c))
					continue
				}
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", s.json["Resources"])
	if len(found) == 0 {
		t.Fatal("found no Resource element at all; the walk is broken")
	}
	wildcards := map[string]int{}
	archive := cdktest.LogicalID(s.enforcer.Archive) + "Arn/*"
	for _, f := range found {
		if !strings.Contains(f, "*") {
			continue
		}
		switch {
		case strings.HasSuffix(f, "arn:AWS::Partition:ecr:AWS::Region:AWS::AccountId:repository/*"):
			wildcards["ECR repositories"]++
		case strings.HasSuffix(f, archive):
			wildcards["archive objects"]++
		default:
			t.Errorf("wildcard resource: %s", f)
		}
	}
	if d := cmp.Diff(map[string]int{"ECR repositories": 1, "archive objects": 2}, wildcards); d != "" {
		t.Errorf("wildcard resources (-want +got):\n%s\nin %q", d, found)
	}
	role := s.json.Resource(t, "AWS::IAM::Role", cdktest.LogicalID(s.enforcer.Function.Role()))
	for _, key := range []string{"ManagedPolicyArns", "Policies"} {
		if v, ok := role[key]; ok {
			t.Errorf("role has %s %v: every permission belongs in the one tested policy", key, v)
		}
	}
}

// flatten renders a Resource value with intrinsic functions reduced to the
// names they refer to, so wildcards can be searched as text.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = flatten(p)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(flatten(p))
			}
			return b.String()
		}
		if r, ok := x["Ref"].(string); ok {
			return r
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprint(g...)
		}
	}
	return fmt.Sprint(v)
}

func TestParameterHoldsTheBaselineVerbatim(t *testing.T) {
	s := defaults(t)
	p := s.json.Resource(t, "AWS::SSM::Parameter", cdktest.LogicalID(s.enforcer.Parameter))
	diff(t, "parameter", p, fmt.Sprintf(`{
		"Name": %q, "Type": "String", "Tier": "Standard", "Value": %q,
		"Description": "ecr-baseline: baseline ECR repository policy template"
	}`, envconfig.ParameterName.Default, policies.Baseline))
}

func TestFunctionRuntimeAndEnvironment(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))
	delete(fn, "Code") // an asset location that changes with the bootstrap
	diff(t, "function", fn, `{
		"Description": "ecr-baseline: applies the baseline policy to ECR repositories",
		"Runtime": "provided.al2023",
		"Architectures": ["arm64"],
		"Handler": "bootstrap",
		"MemorySize": 128,
		"Timeout": 120,
		"Role": `+getAtt(cdktest.LogicalID(e.Function.Role()), "Arn")+`,
		"Environment": {"Variables": {
			"BASELINE_PARAMETER_NAME": `+ref(cdktest.LogicalID(e.Parameter))+`,
			"BASELINE_CACHE_TTL": "5m0s",
			"DRY_RUN": "false",
			"ENFORCEMENT_MODE": "replace",
			"FORCE": "false",
			"EXEMPT_TAG": "",
			"EXEMPT_REPOSITORIES": "",
			"ECR_READ_TPS": "",
			"ECR_WRITE_TPS": "",
			"BACKFILL_CONCURRENCY": "8",
			"ALLOWED_PRINCIPALS": "",
			"ALLOW_PUBLIC": "false",
			"APPLY_TO_EXISTING_REPOSITORIES": "false",
			"MEMBER_ACCOUNTS": "", "MEMBER_ORGANIZATIONAL_UNITS": "", "MEMBER_REGIONS": "", "MEMBER_ROLE_NAME": "ecr-baseline-member",
			"ORGANIZATION_ID": "",
			"ARCHIVE_BUCKET": `+ref(cdktest.LogicalID(e.Archive))+`,
			"SWEEP_QUEUE_URL": `+ref(cdktest.LogicalID(e.SweepQueue))+`,
			"SWEEP_DEAD_LETTER_QUEUE_URL": `+ref(cdktest.LogicalID(e.SweepDeadLetterQueue))+`,
			"SWEEP_MAX_RECEIVE_COUNT": "5",
			"SELF_ROLE_ARN": `+getAtt(cdktest.LogicalID(e.Function.Role()), "Arn")+`
		}},
		"LoggingConfig": {
			"LogFormat": "JSON",
			"ApplicationLogLevel": "INFO",
			"SystemLogLevel": "WARN",
			"LogGroup": `+ref(s.json.LogicalIDs("AWS::Logs::LogGroup")[0])+`
		}
	}`)
	logs := s.json.LogicalIDs("AWS::Logs::LogGroup")
	if len(logs) != 1 {
		t.Fatalf("log groups: %v, want one", logs)
	}
	diff(t, "log group", s.json.Resource(t, "AWS::Logs::LogGroup", logs[0]), `{"RetentionInDays": 30}`)
}

// roleARN and archiveBucket stand for the role's ARN and the bucket's
// name, which CloudFormation resolves at deploy.
const (
	roleARN            = "arn:aws:iam::123456789012:role/Test-EnforcerRole"
	archiveBucket      = "test-enforcerarchive"
	sweepQueueURL      = "https://sqs.us-east-1.amazonaws.com/123456789012/test-sweeps"
	sweepDeadLetterURL = "https://sqs.us-east-1.amazonaws.com/123456789012/test-sweeps-dlq"
)

// loadEnvironment feeds the environment the construct set to the
// function's own configuration loader (pkg/envconfig), resolving the three
// references in it the way CloudFormation would: a renamed variable or a
// value the function rejects fails here, not in the deployed function.
func loadEnvironment(t *testing.T, s *synthesized, parameterName string) envconfig.Config {
	t.Helper()
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(s.enforcer.Function))
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	resolved := map[string]string{}
	for key, v := range vars {
		switch {
		case cmp.Equal(v, map[string]any{"Ref": cdktest.LogicalID(s.enforcer.Parameter)}):
			resolved[key] = parameterName
		case cmp.Equal(v, map[string]any{"Ref": cdktest.LogicalID(s.enforcer.Archive)}):
			resolved[key] = archiveBucket
		case cmp.Equal(v, map[string]any{"Ref": cdktest.LogicalID(s.enforcer.SweepQueue)}):
			resolved[key] = sweepQueueURL
		case cmp.Equal(v, map[string]any{"Ref": cdktest.LogicalID(s.enforcer.SweepDeadLetterQueue)}):
			resolved[key] = sweepDeadLetterURL
		case cmp.Equal(v, cdktest.JSON(t, getAtt(cdktest.LogicalID(s.enforcer.Function.Role()), "Arn"))):
			resolved[key] = roleARN
		default:
			text, ok := v.(string)
			if !ok {
				t.Fatalf("environment %s = %v: want a string or a known reference", key, v)
			}
			resolved[key] = text
		}
	}
	cfg, err := envconfig.Load(func(key string) (string, bool) {
		v, ok := resolved[key]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the function rejects the environment the construct sets: %v", err)
	}
	return cfg
}

// TestFunctionEnvironmentLoads checks the default environment gives the
// function its defaults, that the function knows its own role, and that
// the role allows the calls the loaded settings make.
func TestFunctionEnvironmentLoads(t *testing.T) {
	s := defaults(t)
	cfg := loadEnvironment(t, s, envconfig.ParameterName.Default)
	want := envconfig.Defaults()
	want.SelfRoleARN, want.ArchiveBucket = roleARN, archiveBucket
	want.SweepQueueURL, want.SweepDeadLetterQueueURL = sweepQueueURL, sweepDeadLetterURL
	if d := cmp.Diff(want, cfg); d != "" {
		t.Errorf("function settings (-want +got):\n%s", d)
	}
	if cfg.ExemptTagKey != "" && !slices.Contains(policy.EnforcerActions, "ecr:ListTagsForResource") {
		t.Errorf("the function checks tag %s on every repository, but the role may not call ecr:ListTagsForResource",
			cfg.ExemptTagKey)
	}
	// A sweep pages through every repository.
	if !slices.Contains(policy.EnforcerActions, "ecr:DescribeRepositories") {
		t.Error("the role may not call ecr:DescribeRepositories, which a sweep pages through")
	}
}

func TestQueuesAreEncryptedSSLOnlyAndKeepTwoWeeks(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	if got := s.json.LogicalIDs("AWS::SQS::Queue"); len(got) != 4 {
		t.Errorf("queues: %v, want the rule's DLQ, the failure queue, the sweep queue and its DLQ", got)
	}
	allowEventRule := func(queueID, ruleID string) string {
		return `{"Sid": "AllowEventRule", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
			"Action": "sqs:SendMessage", "Resource": ` + getAtt(queueID, "Arn") + `,
			"Condition": {"ArnEquals": {"aws:SourceArn": ` + getAtt(ruleID, "Arn") + `}}}`
	}
	sslOnly := func(queueID string) string {
		return `{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sqs:*",
			"Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Resource": ` + getAtt(queueID, "Arn") + `}`
	}
	policyOf := map[string]string{}
	for _, pid := range s.json.LogicalIDs("AWS::SQS::QueuePolicy") {
		p := s.json.Resource(t, "AWS::SQS::QueuePolicy", pid)
		queues, _ := p["Queues"].([]any)
		if len(queues) != 1 {
			t.Fatalf("queue policy %s covers %v, want one queue", pid, queues)
		}
		policyOf[fmt.Sprint(queues[0].(map[string]any)["Ref"])] = pid
	}
	ruleDLQ, failures := cdktest.LogicalID(e.RuleDeadLetterQueue), cdktest.LogicalID(e.FailureQueue)
	sweeps, sweepDLQ := cdktest.LogicalID(e.SweepQueue), cdktest.LogicalID(e.SweepDeadLetterQueue)
	const encryptedTwoWeeks = `"SqsManagedSseEnabled": true, "MessageRetentionPeriod": 1209600`
	for _, q := range []struct {
		id         string
		queue      string
		statements string
	}{
		{ruleDLQ, encryptedTwoWeeks, sslOnly(ruleDLQ) + `, ` + allowEventRule(ruleDLQ, cdktest.LogicalID(e.Rule)) +
			`, ` + allowEventRule(ruleDLQ, cdktest.LogicalID(e.BaselineChangeRule)) +
			`, ` + allowEventRule(ruleDLQ, cdktest.LogicalID(e.ReconcileRule))},
		// Lambda sends failure records with the function's role, not as a service principal.
		{failures, encryptedTwoWeeks, sslOnly(failures)},
		// Six times the function's 120 s timeout, as AWS advises for a
		// queue a function consumes; five receives, then the DLQ.
		{sweeps, encryptedTwoWeeks + `, "VisibilityTimeout": 720,
			"RedrivePolicy": {"deadLetterTargetArn": ` + getAtt(sweepDLQ, "Arn") + `, "maxReceiveCount": 5}`, sslOnly(sweeps)},
		{sweepDLQ, encryptedTwoWeeks, sslOnly(sweepDLQ)},
	} {
		diff(t, q.id, s.json.Resource(t, "AWS::SQS::Queue", q.id), `{`+q.queue+`}`)
		pid, ok := policyOf[q.id]
		if !ok {
			t.Errorf("queue %s has no queue policy", q.id)
			continue
		}
		doc := s.json.Resource(t, "AWS::SQS::QueuePolicy", pid)["PolicyDocument"]
		for _, st := range doc.(map[string]any)["Statement"].([]any) {
			// CDK suffixes this Sid with a hash of the rule's path.
			if m := st.(map[string]any); strings.HasPrefix(fmt.Sprint(m["Sid"]), "AllowEventRule") {
				m["Sid"] = "AllowEventRule"
			}
		}
		diff(t, q.id+" policy", doc,
			`{"Version": "2012-10-17", "Statement": [`+q.statements+`]}`)
	}
}

func TestAlarmsOnErrorsAndEachQueue(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	if got := s.json.LogicalIDs("AWS::CloudWatch::Alarm"); len(got) != 6 {
		t.Errorf("alarms: %v, want six", got)
	}
	queueAlarm := func(queue string) string {
		return `"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
			"Dimensions": [{"Name": "QueueName", "Value": ` + getAtt(queue, "QueueName") + `}]`
	}
	for i, want := range []string{
		`"AlarmDescription": "ecr-baseline: the enforcer function failed",
		 "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
		 "Dimensions": [{"Name": "FunctionName", "Value": ` + ref(cdktest.LogicalID(e.Function)) + `}]`,
		`"AlarmDescription": "ecr-baseline: EventBridge could not deliver events to the function; see the rule dead-letter queue",
		` + queueAlarm(cdktest.LogicalID(e.RuleDeadLetterQueue)),
		`"AlarmDescription": "ecr-baseline: the function gave up on events; see the failure queue",
		` + queueAlarm(cdktest.LogicalID(e.FailureQueue)),
		`"AlarmDescription": "ecr-baseline: sweep items failed for good; see the sweep dead-letter queue (each message is the item, with its reason as a message attribute), and once fixed redrive it with the sweep queue as a custom destination (SweepQueueArn output)",
		` + queueAlarm(cdktest.LogicalID(e.SweepDeadLetterQueue)),
		`"AlarmDescription": "ecr-baseline: repositories could not be enforced; see the function's log for each repository and reason",
		 "Namespace": "EcrBaseline", "MetricName": "Failed", "Statistic": "Sum",
		 "Dimensions": [{"Name": "FunctionName", "Value": ` + ref(cdktest.LogicalID(e.Function)) + `}]`,
		`"AlarmDescription": "ecr-baseline: a repository was newly exempted by its tag; see the function's WARN log for the repository and who tagged it",
		 "Namespace": "EcrBaseline", "MetricName": "ExemptedByTag", "Statistic": "Sum",
		 "Dimensions": [{"Name": "FunctionName", "Value": ` + ref(cdktest.LogicalID(e.Function)) + `}]`,
	} {
		id := cdktest.LogicalID(e.Alarms[i])
		diff(t, id, s.json.Resource(t, "AWS::CloudWatch::Alarm", id), `{`+want+`,
			"Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}`)
	}
}

func TestResourceCount(t *testing.T) {
	s := defaults(t)
	// Parameter, 4 queues and their policies, log group, role and policy,
	// function, async config, the sweep queue's event source mapping, 3
	// rules and their invoke permissions, 6 alarms, the dashboard, the
	// archive bucket and its policy. A new resource should be a decision, so it has to show
	// up here.
	cdktest.Check(t, func() {
		for typ, n := range map[string]float64{
			"AWS::SSM::Parameter": 1, "AWS::SQS::Queue": 4, "AWS::SQS::QueuePolicy": 4,
			"AWS::Logs::LogGroup": 1, "AWS::IAM::Role": 1, "AWS::IAM::Policy": 1,
			"AWS::Lambda::Function": 1, "AWS::Lambda::EventInvokeConfig": 1, "AWS::Lambda::EventSourceMapping": 1,
			"AWS::Events::Rule": 3, "AWS::Lambda::Permission": 3, "AWS::CloudWatch::Alarm": 6, "AWS::CloudWatch::Dashboard": 1,
			"AWS::S3::Bucket": 1, "AWS::S3::BucketPolicy": 1,
		} {
			s.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
		}
	})
	if n := len(s.json["Resources"].(map[string]any)); n != 30 {
		t.Errorf("%d resources, want 30", n)
	}
}

// TestSweepQueueFeedsTheFunction: the function consumes the sweep queue
// through an event source mapping that reports batch item failures, so a
// failed repository alone returns to the queue, with a maximum
// concurrency that bounds a sweep's containers.
func TestSweepQueueFeedsTheFunction(t *testing.T) {
	s := defaults(t)
	ids := s.json.LogicalIDs("AWS::Lambda::EventSourceMapping")
	if len(ids) != 1 {
		t.Fatalf("event source mappings: %v, want one", ids)
	}
	diff(t, "event source mapping", s.json.Resource(t, "AWS::Lambda::EventSourceMapping", ids[0]), `{
		"FunctionName": `+ref(cdktest.LogicalID(s.enforcer.Function))+`,
		"EventSourceArn": `+getAtt(cdktest.LogicalID(s.enforcer.SweepQueue), "Arn")+`,
		"BatchSize": 10,
		"FunctionResponseTypes": ["ReportBatchItemFailures"],
		"ScalingConfig": {"MaximumConcurrency": 5}
	}`)
}

// archiveLifecycle is the archive bucket's lifecycle for a retention of
// days.
func archiveLifecycle(days int) string {
	return fmt.Sprintf(`{"Rules": [{"Id": "ExpireArchivedPolicies", "Status": "Enabled",
		"ExpirationInDays": %d, "NoncurrentVersionExpiration": {"NoncurrentDays": %d}}]}`, days, days)
}

// TestArchiveBucketIsPrivateVersionedAndRetained: the bucket of replaced
// policies outlives the stack, keeps every version for the retention,
// refuses plain HTTP and can never be made public.
func TestArchiveBucketIsPrivateVersionedAndRetained(t *testing.T) {
	s := defaults(t)
	id := cdktest.LogicalID(s.enforcer.Archive)
	var whole map[string]any
	cdktest.Check(t, func() {
		whole = *(*s.tmpl.FindResources(jsii.String("AWS::S3::Bucket"), nil))[id]
	})
	delete(whole, "Metadata") // cdk-nag's suppression, tested in infra
	diff(t, "archive bucket", whole, `{
		"Type": "AWS::S3::Bucket",
		"DeletionPolicy": "Retain",
		"UpdateReplacePolicy": "Retain",
		"Properties": {
			"VersioningConfiguration": {"Status": "Enabled"},
			"BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
			"PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
			"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
			"LifecycleConfiguration": `+archiveLifecycle(DefaultArchiveRetentionDays)+`
		}
	}`)

	policies := s.json.LogicalIDs("AWS::S3::BucketPolicy")
	if len(policies) != 1 {
		t.Fatalf("bucket policies: %v, want the archive's", policies)
	}
	diff(t, "archive bucket policy", s.json.Resource(t, "AWS::S3::BucketPolicy", policies[0]), `{
		"Bucket": `+ref(id)+`,
		"PolicyDocument": {"Version": "2012-10-17", "Statement": [{
			"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
			"Condition": {"Bool": {"aws:SecureTransport": "false"}},
			"Resource": [`+getAtt(id, "Arn")+`, `+archiveObjects(s.enforcer)+`]
		}]}
	}`)
}

// bigPolicy returns a valid baseline whose text is about size bytes: one
// Allow statement per role of the account, indented the way people write policies.
func bigPolicy(size int) string {
	var b strings.Builder
	b.WriteString("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n")
	for i := 0; b.Len() < size-200; i++ {
		fmt.Fprintf(&b, "    {\n      \"Sid\": \"Pull%04d\",\n      \"Effect\": \"Allow\",\n"+
			"      \"Principal\": { \"AWS\": \"arn:aws:iam::${AccountId}:role/p%04d\" },\n"+
			"      \"Action\": [ \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n    },\n", i, i)
	}
	b.WriteString("    {\n      \"Sid\": \"DenyDelete\",\n      \"Effect\": \"Deny\",\n" +
		"      \"Principal\": \"*\",\n      \"Action\": \"ecr:DeleteRepository\"\n    }\n  ]\n}\n")
	return b.String()
}

// lockOut is the DenyAll statement the lock-out guard refuses.
const lockOut = `{"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"}`

// withStatement returns a baseline holding the shipped one's statements and
// statement.
func withStatement(statement string) string {
	return strings.Replace(policies.Baseline, `"Statement": [`, `"Statement": [`+statement+`,`, 1)
}

// TestBaselineChecksAtSynth: merge mode and the lock-out guard check the
// baseline with the function's own code before anything is created.
func TestBaselineChecksAtSynth(t *testing.T) {
	stack := newStack(t.TempDir())
	merge := map[string]string{"enforcementMode": "merge"}
	noSid := withStatement(`{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::${AccountId}:root"}, "Action": "ecr:ListImages"}`)
	for _, tc := range []struct {
		name  string
		props EnforcerProps
		want  string // "" for success
	}{
		{"merge, every statement has a Sid", EnforcerProps{PolicyText: jsii.String(policies.Baseline), Settings: merge}, ""},
		{"merge, a statement without a Sid", EnforcerProps{PolicyText: jsii.String(noSid), Settings: merge},
			"baseline policy: merge mode: invalid repository policy: statement 1 has no Sid; merge mode keys baseline statements by Sid"},
		{"replace, a statement without a Sid", EnforcerProps{PolicyText: jsii.String(noSid)}, ""},
		{"lock-out", EnforcerProps{PolicyText: jsii.String(withStatement(lockOut))},
			`baseline policy: policy would lock this account out of setting the repository policy: statement "DenyAll": ` +
				`Deny ecr:* for "*" without a Condition would stop this account from setting the policy again; ` +
				`set force to apply it anyway (the force setting: context force=true)`},
		{"lock-out through NotAction, no Sid", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::${AccountId}:root"}, "NotAction": "ecr:BatchGetImage"}`))},
			`statement 1: Deny every action but ecr:batchgetimage for everyone but {"AWS":["123456789012"]}`},
		{"lock-out, forced", EnforcerProps{PolicyText: jsii.String(withStatement(lockOut)), Settings: map[string]string{"force": "true"}}, ""},
		{"lock-out in merge mode", EnforcerProps{PolicyText: jsii.String(withStatement(lockOut)), Settings: merge}, `statement "DenyAll"`},
		{"a Deny with a Condition is no lock-out", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "DenyOutsideOrg", "Effect": "Deny", "Principal": "*", "Action": "ecr:*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}`))}, ""},
		// The function's role is named at deploy: a role named in the
		// template is another, a pattern may be it.
		{"a Deny on another role is no lock-out", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "NoCI", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::${AccountId}:role/ci"}, "Action": "ecr:*"}`))}, ""},
		{"a Deny on a pattern of roles", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "Roles", "Effect": "Deny", "Principal": "*", "Action": "ecr:*", "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::${AccountId}:role/*"}}}`))},
			`statement "Roles": Deny ecr:* for "*" with a Condition that holds for the enforcer's own calls (StringLike aws:principalarn)`},
		// In organisation mode the function also writes as the member
		// role, whose name is no secret, in every member account.
		{"organisation: a Deny on the member role", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "NoMember", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::${AccountId}:role/ecr-baseline-member"}, "Action": "ecr:*"}`)),
			Settings: map[string]string{"memberAccounts": "111122223333"}},
			`baseline policy: as a member account sees it: policy would lock this account out of setting the repository policy: statement "NoMember": ` +
				`Deny ecr:* for {"AWS":["arn:aws:iam::123456789012:role/ecr-baseline-member"]} without a Condition would stop this account from setting the policy again; ` +
				`set force to apply it anyway (the force setting: context force=true)`},
		{"organisation: a Deny on a member account", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "NoMember", "Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "ecr:*"}`)),
			Settings: map[string]string{"memberAccounts": "111122223333"}},
			`policy would lock this account out of setting the repository policy: statement "NoMember": Deny ecr:* for {"AWS":["111122223333"]}`},
		{"organisation: a Deny on another role", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "NoCI", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::${AccountId}:role/ci"}, "Action": "ecr:*"}`)),
			Settings: map[string]string{"memberAccounts": "111122223333"}}, ""},
		{"a grant to the placeholder account, written literally", EnforcerProps{PolicyText: jsii.String(withStatement(
			`{"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:BatchGetImage"}`))},
			`baseline policy: baseline would grant access outside this account: statement "Pull": Allow to 123456789012, outside this account`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.props.CodePath = jsii.String(codePath)
			// A fresh id per case: a success creates the construct.
			err := cdktest.Panic(t, func() { NewEnforcer(stack, strings.ReplaceAll(tc.name, ",", ""), &tc.props) })
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewEnforcer panicked: %v; want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestBaselineChecksAtSynthInANamedAccount: a stack whose env names the
// account gives the guard that account, so a literal ID is judged as the
// function judges it at load: its own account is inside, another's Deny
// cannot lock the function out.
func TestBaselineChecksAtSynthInANamedAccount(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := awscdk.NewStack(app, jsii.String("Named"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")},
	})
	members := map[string]string{"memberAccounts": "444455556666"}
	for _, tc := range []struct {
		name, statement, want string // want "" for success
		settings              map[string]string
	}{
		{"a grant to its own account, written literally",
			`{"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "ecr:BatchGetImage"}`, "", nil},
		{"a Deny on another account",
			`{"Sid": "NoOther", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "ecr:*"}`, "", nil},
		{"a Deny on its own account",
			`{"Sid": "NoOwn", "Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "ecr:*"}`,
			`baseline policy: policy would lock this account out of setting the repository policy: statement "NoOwn": ` +
				`Deny ecr:* for {"AWS":["111122223333"]} without a Condition would stop this account from setting the policy again; ` +
				`set force to apply it anyway (the force setting: context force=true)`, nil},
		{"a grant to the placeholder account",
			`{"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:BatchGetImage"}`,
			`baseline policy: baseline would grant access outside this account: statement "Pull": Allow to 123456789012, outside this account; ` +
				`add the account IDs to allowedPrincipals to grant them`, nil},
		// A member's repositories are written in the member's account.
		{"organisation: a Deny on another account, a member",
			`{"Sid": "NoOther", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "ecr:*"}`,
			`baseline policy: as a member account sees it: policy would lock this account out of setting the repository policy: statement "NoOther": ` +
				`Deny ecr:* for {"AWS":["444455556666"]} without a Condition would stop this account from setting the policy again; ` +
				`set force to apply it anyway (the force setting: context force=true)`, members},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := &EnforcerProps{CodePath: jsii.String(codePath), PolicyText: jsii.String(withStatement(tc.statement)), Settings: tc.settings}
			err := cdktest.Panic(t, func() { NewEnforcer(stack, strings.ReplaceAll(tc.name, ",", ""), props) })
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewEnforcer panicked: %v; want success", err)
			case tc.want != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.want)):
				t.Errorf("error %v\nwant it to end with %q", err, tc.want)
			}
		})
	}
}

func TestCustomerKeyReferencesSecureStringAndGrantsDecrypt(t *testing.T) {
	const keyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	stack := newStack(t.TempDir())
	e := NewEnforcer(stack, "Enforcer", &EnforcerProps{
		CodePath:      jsii.String(codePath),
		EncryptionKey: awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String(keyARN)),
	})
	var tmpl assertions.Template
	cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(stack, nil) })
	tm := cdktest.FromAssertions(t, tmpl)

	if got := tm.LogicalIDs("AWS::SSM::Parameter"); len(got) != 0 {
		t.Errorf("parameters %v: CloudFormation cannot create a SecureString, the stack must not create one", got)
	}
	pol := tm.Resource(t, "AWS::IAM::Policy", tm.LogicalIDs("AWS::IAM::Policy")[0])
	statements := pol["PolicyDocument"].(map[string]any)["Statement"].([]any)
	bySid := map[string]any{}
	for _, st := range statements {
		m := st.(map[string]any)
		bySid[fmt.Sprint(m["Sid"])] = m
	}
	diff(t, "ReadBaseline", bySid["ReadBaseline"], `{"Sid": "ReadBaseline", "Effect": "Allow", "Action": "ssm:GetParameter",
		"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:", {"Ref": "AWS::Region"},
			":", {"Ref": "AWS::AccountId"}, ":parameter/ecr-baseline/baseline-policy"]]}}`)
	diff(t, "DecryptBaseline", bySid["DecryptBaseline"], `{"Sid": "DecryptBaseline", "Effect": "Allow", "Action": "kms:Decrypt",
		"Resource": "`+keyARN+`",
		"Condition": {"StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["ssm.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}}}`)
	if len(statements) != 9 {
		t.Errorf("%d statements, want the 8 of the default stack plus DecryptBaseline", len(statements))
	}
	env := tm.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))["Environment"]
	diff(t, "parameter name", env.(map[string]any)["Variables"].(map[string]any)[envconfig.ParameterName.Env], `"/ecr-baseline/baseline-policy"`)
}

func TestDefaultStackHasNoKMSGrant(t *testing.T) {
	s := defaults(t)
	if strings.Contains(fmt.Sprint(s.json["Resources"]), "kms:") {
		t.Error("kms: action granted without a customer key")
	}
}

func TestNewEnforcerRejectsBadProps(t *testing.T) {
	stack := newStack(t.TempDir())
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"),
		jsii.String("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"))
	noBootstrap := t.TempDir()
	amd64 := bootstrapDir(t, cdktest.ELF(elf.EM_X86_64, elf.ET_EXEC, elf.ELFOSABI_NONE), 0o755)
	empty := bootstrapDir(t, nil, 0o755)
	notExecutable := bootstrapDir(t, cdktest.ELF(elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_NONE), 0o644)
	const buildHint = " (leave CodePath empty to build the function at synth)"
	// valid returns props NewEnforcer accepts, changed by change.
	valid := func(change func(*EnforcerProps)) *EnforcerProps {
		p := &EnforcerProps{PolicyText: jsii.String(policies.Baseline), CodePath: jsii.String(codePath)}
		change(p)
		return p
	}
	settings := func(given map[string]string) *EnforcerProps {
		return valid(func(p *EnforcerProps) { p.Settings = given })
	}
	for _, tc := range []struct {
		name  string
		props *EnforcerProps
		want  string
	}{
		{"nil props", nil, "props are required"},
		{"no policy", valid(func(p *EnforcerProps) { p.PolicyText = nil }), "PolicyText is required (the baseline policy template)"},
		{"empty policy", valid(func(p *EnforcerProps) { p.PolicyText = jsii.String("") }), "PolicyText is required (the baseline policy template)"},
		{"not JSON", valid(func(p *EnforcerProps) { p.PolicyText = jsii.String("{") }), "baseline policy: invalid repository policy: baseline is not valid JSON: unexpected EOF"},
		{"invalid statement", valid(func(p *EnforcerProps) {
			p.PolicyText = jsii.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`)
		}),
			`baseline policy: baseline rendered for a 256-character repository name: invalid repository policy: statement 1: action "s3:getobject" is not an ecr: action`},
		{"too large for ECR once rendered", valid(func(p *EnforcerProps) {
			p.PolicyText = jsii.String(strings.Replace(bigPolicy(3000), `"Pull0000"`, `"${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}"`, 1))
		}),
			"baseline policy: baseline rendered for a 256-character repository name: invalid repository policy: 11245 characters, ECR accepts at most 10240"},
		{"too large for SSM", valid(func(p *EnforcerProps) { p.PolicyText = jsii.String(bigPolicy(8300)) }),
			"baseline policy: template is 8298 bytes; an SSM parameter holds at most 8192 (advanced tier): shorten it (whitespace counts)"},
		{"no bootstrap", valid(func(p *EnforcerProps) { p.CodePath = jsii.String(noBootstrap) }),
			"CodePath " + noBootstrap + ": no bootstrap: stat " + noBootstrap + "/bootstrap: no such file or directory" + buildHint},
		{"amd64 bootstrap", valid(func(p *EnforcerProps) { p.CodePath = jsii.String(amd64) }),
			"CodePath " + amd64 + ": bootstrap is built for ELFCLASS64 EM_X86_64, the function runs on arm64 (GOARCH=arm64)" + buildHint},
		{"empty bootstrap", valid(func(p *EnforcerProps) { p.CodePath = jsii.String(empty) }),
			"CodePath " + empty + ": bootstrap is empty" + buildHint},
		{"bootstrap not executable", valid(func(p *EnforcerProps) { p.CodePath = jsii.String(notExecutable) }),
			"CodePath " + notExecutable + ": bootstrap has mode 0644: Lambda runs it as another user, so everyone must be able to read and run it (chmod 755)" + buildHint},
		{"archive retention of no days", valid(func(p *EnforcerProps) { p.ArchiveRetention = awscdk.Duration_Hours(jsii.Number(12)) }),
			"ArchiveRetention must be a whole number of days, at least 1, got 12 hours"},
		{"archive retention in part days", valid(func(p *EnforcerProps) { p.ArchiveRetention = awscdk.Duration_Hours(jsii.Number(36)) }),
			"ArchiveRetention must be a whole number of days, at least 1, got 1 day 12 hours"},
		{"one container for sweeps", valid(func(p *EnforcerProps) { p.SweepMaxConcurrency = jsii.Number(1) }),
			"SweepMaxConcurrency must be a whole number from 2 to 1000 (Lambda's limits), got 1"},
		{"part of a container", valid(func(p *EnforcerProps) { p.SweepMaxConcurrency = jsii.Number(2.5) }),
			"SweepMaxConcurrency must be a whole number from 2 to 1000 (Lambda's limits), got 2.5"},
		{"reserved concurrency below the sweep's", valid(func(p *EnforcerProps) {
			p.FunctionProps = &awslambda.FunctionProps{ReservedConcurrentExecutions: jsii.Number(5)}
		}), "FunctionProps.ReservedConcurrentExecutions 5 leaves no room for SweepMaxConcurrency 5 sweep batches and the events: reserve at least 6"},
		{"owned function props", valid(func(p *EnforcerProps) {
			p.FunctionProps = &awslambda.FunctionProps{
				MemorySize: jsii.Number(512), Environment: &map[string]*string{"DRY_RUN": jsii.String("true")}, RetryAttempts: jsii.Number(0),
			}
		}),
			"FunctionProps.RetryAttempts cannot be overridden: the construct retries failed events and sends them to FailureQueue\n" +
				"FunctionProps.Environment cannot be overridden: the function's settings are the Settings prop"},
		{"timeout within a batch's stop margin", valid(func(p *EnforcerProps) {
			p.FunctionProps = &awslambda.FunctionProps{Timeout: awscdk.Duration_Seconds(jsii.Number(30))}
		}),
			"FunctionProps.Timeout must be longer than 30s, got 30 seconds: a sweep batch starts no item in the last 30s of an invocation"},
		{"owned queue and rule props", valid(func(p *EnforcerProps) {
			p.QueueProps = &awssqs.QueueProps{VisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(1)), RemovalPolicy: awscdk.RemovalPolicy_RETAIN}
			p.RuleProps = &awsevents.RuleProps{Enabled: jsii.Bool(false), EventPattern: &awsevents.EventPattern{}}
		}),
			"QueueProps.RemovalPolicy cannot be overridden: set QueueRemovalPolicy\n" +
				"QueueProps.VisibilityTimeout cannot be overridden: the sweep queue's redrive and visibility follow the function (FunctionProps.Timeout)\n" +
				"RuleProps.EventPattern cannot be overridden: each rule matches what the function handles; set ReconcileSchedule for the schedule"},
		{"negative TTL", settings(map[string]string{"cacheTTL": "-1s"}), `Settings["cacheTTL"] must be a duration such as 5m, got "-1s"`},
		{"key and policy", valid(func(p *EnforcerProps) { p.EncryptionKey = key }),
			"PolicyText must be nil when EncryptionKey is set: CloudFormation cannot create SecureString parameters, " +
				"so put the baseline with `aws ssm put-parameter --type SecureString` and the stack only references it"},
		{"parameter removal policy with a key", valid(func(p *EnforcerProps) {
			p.PolicyText, p.EncryptionKey, p.ParameterRemovalPolicy = nil, key, awscdk.RemovalPolicy_RETAIN
		}),
			"ParameterRemovalPolicy must be empty when EncryptionKey is set: the stack references the SecureString parameter, it does not own it"},
		{"unknown setting", settings(map[string]string{"dryrun": "true", "ReadTPS": "5"}),
			`Settings["ReadTPS"], Settings["dryrun"]: no such setting; the settings are parameterName, cacheTTL, dryRun, ` +
				`enforcementMode, force, exemptTag, exemptRepositories, readTps, writeTps, backfillConcurrency, allowedPrincipals, allowPublic, applyToExistingRepositories, ` +
				`memberAccounts, memberOrganizationalUnits, memberRegions, memberRoleName, organizationId`},
		{"unknown mode", settings(map[string]string{"enforcementMode": "Merge"}), `Settings["enforcementMode"] must be replace or merge, got "Merge"`},
		{"tag without value", settings(map[string]string{"exemptTag": "exempt"}),
			`Settings["exemptTag"] must be key=value (or empty to turn it off), got "exempt"`},
		{"tag without key", settings(map[string]string{"exemptTag": "=true"}),
			`Settings["exemptTag"] must be key=value (or empty to turn it off), got "=true"`},
		{"bad pattern", settings(map[string]string{"exemptRepositories": "team-[a"}),
			`Settings["exemptRepositories"] must be comma-separated Go path.Match patterns, got "team-[a" in "team-[a": syntax error in pattern`},
		{"empty pattern", settings(map[string]string{"exemptRepositories": "a,,b"}),
			`Settings["exemptRepositories"] must be comma-separated Go path.Match patterns, got an empty one in "a,,b"`},
		{"zero read TPS", settings(map[string]string{"readTps": "0"}),
			`Settings["readTps"] must be a number of calls per second from 0.1 to 10000, got "0"`},
		{"NaN read TPS paces nothing", settings(map[string]string{"readTps": "NaN"}),
			`Settings["readTps"] must be a number of calls per second from 0.1 to 10000, got "NaN"`},
		{"infinite write TPS", settings(map[string]string{"writeTps": "+Inf"}),
			`Settings["writeTps"] must be a number of calls per second from 0.1 to 10000, got "+Inf"`},
		{"fractional concurrency", settings(map[string]string{"backfillConcurrency": "2.5"}),
			`Settings["backfillConcurrency"] must be a positive whole number, got "2.5"`},
		{"every bad setting at once", settings(map[string]string{"enforcementMode": "x", "readTps": "0", "backfillConcurrency": "0"}),
			`Settings["enforcementMode"] must be replace or merge, got "x"` + "\n" +
				`Settings["readTps"] must be a number of calls per second from 0.1 to 10000, got "0"` + "\n" +
				`Settings["backfillConcurrency"] must be a positive whole number, got "0"`},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, stack, tc.props, tc.want) })
	}
	// Every case failed before creating anything, so the id is still free.
	if n := len(*stack.Node().Children()); n != 1 {
		t.Errorf("stack has %d children after failed NewEnforcer calls, want only the key", n)
	}
}

// refused checks that NewEnforcer "Enforcer" panics on props with want,
// after the construct's id.
func refused(t *testing.T, stack awscdk.Stack, props *EnforcerProps, want string) {
	t.Helper()
	err := cdktest.Panic(t, func() { NewEnforcer(stack, "Enforcer", props) })
	if err == nil {
		t.Fatal("NewEnforcer did not panic")
	}
	if want := "ecr-baseline Enforcer: " + want; err.Error() != want {
		t.Errorf("error %q\nwant      %q", err, want)
	}
}

func TestParameterTierBoundaries(t *testing.T) {
	for _, tc := range []struct {
		size int
		want string
	}{
		{1, "STANDARD"}, {4096, "STANDARD"}, {4097, "ADVANCED"}, {8192, "ADVANCED"}, {8193, "error"},
	} {
		tier, err := parameterTier(tc.size)
		got := string(tier)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("parameterTier(%d) = %q, %v; want %s", tc.size, tier, err, tc.want)
		}
	}
}

// TestOrganisationRefusalsSaidOnce: in organisation mode synth checks the
// baseline for the hub and as a member sees it; a refusal both make in
// the same words is said once, one only the member view makes is added.
func TestOrganisationRefusalsSaidOnce(t *testing.T) {
	stack := newStack(t.TempDir())
	members := map[string]string{"memberAccounts": "111122223333"}
	for _, tc := range []struct {
		name, statement, want string
		times                 int
	}{
		{"an unknown variable", `{"Sid": "Typo", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::${AccountID}:root"}, "Action": "ecr:ListImages"}`,
			`unknown variable ${AccountID}`, 1},
		{"a Deny on the member role, the member view's only", `{"Sid": "NoMember", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::${AccountId}:role/ecr-baseline-member"}, "Action": "ecr:*"}`,
			`as a member account sees it:`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := &EnforcerProps{CodePath: jsii.String(codePath), PolicyText: jsii.String(withStatement(tc.statement)), Settings: members}
			err := cdktest.Panic(t, func() { NewEnforcer(stack, strings.ReplaceAll(tc.name, ",", ""), props) })
			if err == nil || strings.Count(err.Error(), tc.want) != tc.times {
				t.Errorf("error %v\nwant %q in it %d times", err, tc.want, tc.times)
			}
		})
	}
}
