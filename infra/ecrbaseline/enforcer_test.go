package ecrbaseline

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
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

// synthesize builds props into a fresh app's stack and synthesizes it.
func synthesize(t *testing.T, props *EnforcerProps) *synthesized {
	t.Helper()
	// Not t.TempDir: a shared synthesis outlives the test that ran it.
	outdir, err := os.MkdirTemp(tmpDir, "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	stack := newStack(outdir)
	s := &synthesized{}
	if props.EncryptionKey == nil && props.CodePath == "" {
		props.CodePath = codePath
	}
	s.enforcer, s.err = NewEnforcer(stack, "Enforcer", props)
	if s.err != nil {
		return s
	}
	cdktest.Check(t, func() { s.tmpl = assertions.Template_FromStack(stack, nil) })
	s.json = cdktest.FromAssertions(t, s.tmpl)
	return s
}

// A synthesis costs seconds under -race, so the default stack is
// synthesized once and shared by the tests that read it.
var (
	defaultOnce  sync.Once
	defaultSynth *synthesized
)

// defaults is the Enforcer with only the required props: the shipped
// baseline and a dummy bootstrap.
func defaults(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() {
		defaultSynth = synthesize(t, &EnforcerProps{PolicyText: policies.Baseline})
	})
	if defaultSynth.err != nil || defaultSynth.json == nil {
		t.Fatalf("default enforcer did not synthesize: %v", defaultSynth.err)
	}
	return defaultSynth
}

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

func TestRuleMatchesSuccessfulCreateRepositoryOnly(t *testing.T) {
	s := defaults(t)
	rule := s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(s.enforcer.Rule))
	diff(t, "EventPattern", rule["EventPattern"], `{
		"source": ["aws.ecr"],
		"detail-type": ["AWS API Call via CloudTrail"],
		"detail": {
			"eventSource": ["ecr.amazonaws.com"],
			"eventName": ["CreateRepository"],
			"errorCode": [{"exists": false}]
		}
	}`)
	diff(t, "State", rule["State"], `"ENABLED"`)
	if got := s.json.LogicalIDs("AWS::Events::Rule"); len(got) != 1 {
		t.Errorf("rules: %v, want exactly one", got)
	}
}

func TestRuleTargetRetriesThenDeadLetters(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	rule := s.json.Resource(t, "AWS::Events::Rule", cdktest.LogicalID(e.Rule))
	diff(t, "Targets", rule["Targets"], `[{
		"Id": "Target0",
		"Arn": `+getAtt(cdktest.LogicalID(e.Function), "Arn")+`,
		"DeadLetterConfig": {"Arn": `+getAtt(cdktest.LogicalID(e.RuleDeadLetterQueue), "Arn")+`},
		"RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
	}]`)

	perms := s.json.LogicalIDs("AWS::Lambda::Permission")
	if len(perms) != 1 {
		t.Fatalf("Lambda permissions: %v, want one for the rule", perms)
	}
	diff(t, "invoke permission", s.json.Resource(t, "AWS::Lambda::Permission", perms[0]), `{
		"Action": "lambda:InvokeFunction",
		"FunctionName": `+getAtt(cdktest.LogicalID(e.Function), "Arn")+`,
		"Principal": "events.amazonaws.com",
		"SourceArn": `+getAtt(cdktest.LogicalID(e.Rule), "Arn")+`
	}`)
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
			 "Action": ["ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:ListTagsForResource"], "Resource": `+ecrRepositories+`},
			{"Sid": "ReportFailure", "Effect": "Allow", "Action": "sqs:SendMessage",
			 "Resource": `+getAtt(cdktest.LogicalID(e.FailureQueue), "Arn")+`}
		]
	}`)
}

// TestNoWildcardResourceOutsideECR walks every policy in the template: the
// only "*" in a Resource is the repository name in the ECR statement, which
// cannot be known before the repository exists.
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
	wildcards := 0
	for _, f := range found {
		if !strings.Contains(f, "*") {
			continue
		}
		wildcards++
		if !strings.HasSuffix(f, "arn:AWS::Partition:ecr:AWS::Region:AWS::AccountId:repository/*") {
			t.Errorf("wildcard resource: %s", f)
		}
	}
	if wildcards != 1 {
		t.Errorf("want exactly one wildcard resource (ECR repositories), found %d in %q", wildcards, found)
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
	}`, DefaultParameterName, policies.Baseline))
}

func TestFunctionRuntimeAndEnvironment(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))
	delete(fn, "Code") // an asset location that changes with the bootstrap
	diff(t, "function", fn, `{
		"Description": "ecr-baseline: applies the baseline policy to new ECR repositories",
		"Runtime": "provided.al2023",
		"Architectures": ["arm64"],
		"Handler": "bootstrap",
		"MemorySize": 128,
		"Timeout": 300,
		"Role": `+getAtt(cdktest.LogicalID(e.Function.Role()), "Arn")+`,
		"Environment": {"Variables": {
			"BASELINE_PARAMETER_NAME": `+ref(cdktest.LogicalID(e.Parameter))+`,
			"BASELINE_CACHE_TTL": "5m0s",
			"DRY_RUN": "false"
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

// TestFunctionEnvironmentLoads feeds the environment the construct sets to
// the function's own configuration loader: a renamed variable or a value
// the function rejects fails here, not in the deployed function. It also
// checks the role allows the tag lookup the loaded settings make.
func TestFunctionEnvironmentLoads(t *testing.T) {
	s := defaults(t)
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(s.enforcer.Function))
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	paramRef := map[string]any{"Ref": cdktest.LogicalID(s.enforcer.Parameter)}
	cfg, err := envconfig.Load(func(key string) (string, bool) {
		v, ok := vars[key]
		if cmp.Equal(v, paramRef) {
			// The parameter's Ref resolves to its name.
			return DefaultParameterName, true
		}
		return fmt.Sprint(v), ok
	})
	if err != nil {
		t.Fatalf("the function rejects the environment the construct sets: %v", err)
	}
	if cfg.ParameterName != DefaultParameterName || cfg.CacheTTL != DefaultCacheTTL || cfg.DryRun {
		t.Errorf("function settings = %q, %s, dry run %v; want %q, %s, false",
			cfg.ParameterName, cfg.CacheTTL, cfg.DryRun, DefaultParameterName, DefaultCacheTTL)
	}
	if cfg.ExemptTagKey != "" && !slices.Contains(repositoryActions, "ecr:ListTagsForResource") {
		t.Errorf("the function checks tag %s on every repository, but the role may not call ecr:ListTagsForResource",
			cfg.ExemptTagKey)
	}
}

func TestQueuesAreEncryptedSSLOnlyAndKeepTwoWeeks(t *testing.T) {
	s := defaults(t)
	e := s.enforcer
	if got := s.json.LogicalIDs("AWS::SQS::Queue"); len(got) != 2 {
		t.Errorf("queues: %v, want the rule's DLQ and the failure queue", got)
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
	for _, q := range []struct {
		id         string
		statements string
	}{
		{ruleDLQ, sslOnly(ruleDLQ) + `, {"Sid": "AllowEventRule",
			"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
			"Resource": ` + getAtt(ruleDLQ, "Arn") + `,
			"Condition": {"ArnEquals": {"aws:SourceArn": ` + getAtt(cdktest.LogicalID(e.Rule), "Arn") + `}}}`},
		// Lambda sends failure records with the function's role, not as a service principal.
		{failures, sslOnly(failures)},
	} {
		diff(t, q.id, s.json.Resource(t, "AWS::SQS::Queue", q.id),
			`{"SqsManagedSseEnabled": true, "MessageRetentionPeriod": 1209600}`)
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
	if got := s.json.LogicalIDs("AWS::CloudWatch::Alarm"); len(got) != 3 {
		t.Errorf("alarms: %v, want three", got)
	}
	queueAlarm := func(queue string) string {
		return `"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
			"Dimensions": [{"Name": "QueueName", "Value": ` + getAtt(queue, "QueueName") + `}]`
	}
	for i, want := range []string{
		`"AlarmDescription": "ecr-baseline: the enforcer function failed",
		 "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
		 "Dimensions": [{"Name": "FunctionName", "Value": ` + ref(cdktest.LogicalID(e.Function)) + `}]`,
		`"AlarmDescription": "ecr-baseline: EventBridge could not deliver CreateRepository events; see the rule dead-letter queue",
		` + queueAlarm(cdktest.LogicalID(e.RuleDeadLetterQueue)),
		`"AlarmDescription": "ecr-baseline: the function gave up on events; see the failure queue",
		` + queueAlarm(cdktest.LogicalID(e.FailureQueue)),
	} {
		id := cdktest.LogicalID(e.Alarms[i])
		diff(t, id, s.json.Resource(t, "AWS::CloudWatch::Alarm", id), `{`+want+`,
			"Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}`)
	}
}

func TestResourceCount(t *testing.T) {
	s := defaults(t)
	// Parameter, 2 queues and their policies, log group, role and policy,
	// function, async config, rule, invoke permission, 3 alarms. A new
	// resource should be a decision, so it has to show up here.
	cdktest.Check(t, func() {
		for typ, n := range map[string]float64{
			"AWS::SSM::Parameter": 1, "AWS::SQS::Queue": 2, "AWS::SQS::QueuePolicy": 2,
			"AWS::Logs::LogGroup": 1, "AWS::IAM::Role": 1, "AWS::IAM::Policy": 1,
			"AWS::Lambda::Function": 1, "AWS::Lambda::EventInvokeConfig": 1, "AWS::Events::Rule": 1,
			"AWS::Lambda::Permission": 1, "AWS::CloudWatch::Alarm": 3,
		} {
			s.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
		}
	})
	if n := len(s.json["Resources"].(map[string]any)); n != 15 {
		t.Errorf("%d resources, want 15", n)
	}
}

// bigPolicy returns a valid baseline whose text is about size bytes: one
// Allow statement per account, indented the way people write policies.
func bigPolicy(size int) string {
	var b strings.Builder
	b.WriteString("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n")
	for i := 0; b.Len() < size-200; i++ {
		fmt.Fprintf(&b, "    {\n      \"Sid\": \"Pull%04d\",\n      \"Effect\": \"Allow\",\n"+
			"      \"Principal\": { \"AWS\": \"arn:aws:iam::%012d:root\" },\n"+
			"      \"Action\": [ \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n    },\n", i, 100000000000+i)
	}
	b.WriteString("    {\n      \"Sid\": \"DenyDelete\",\n      \"Effect\": \"Deny\",\n" +
		"      \"Principal\": \"*\",\n      \"Action\": \"ecr:DeleteRepository\"\n    }\n  ]\n}\n")
	return b.String()
}

func TestOptionsAndAdvancedTier(t *testing.T) {
	text := bigPolicy(6000)
	s := synthesize(t, &EnforcerProps{
		PolicyText:          text,
		ParameterName:       "/platform/ecr/baseline",
		DryRun:              true,
		CacheTTL:            90 * time.Second,
		ReservedConcurrency: jsii.Number(2),
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	e := s.enforcer
	p := s.json.Resource(t, "AWS::SSM::Parameter", cdktest.LogicalID(e.Parameter))
	diff(t, "tier", p["Tier"], `"Advanced"`)
	diff(t, "name", p["Name"], `"/platform/ecr/baseline"`)
	if p["Value"] != text {
		t.Error("parameter value is not the policy text")
	}
	fn := s.json.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))
	diff(t, "environment", fn["Environment"], `{"Variables": {
		"BASELINE_PARAMETER_NAME": `+ref(cdktest.LogicalID(e.Parameter))+`,
		"BASELINE_CACHE_TTL": "1m30s", "DRY_RUN": "true"}}`)
	diff(t, "reserved concurrency", fn["ReservedConcurrentExecutions"], `2`)
}

func TestCustomerKeyReferencesSecureStringAndGrantsDecrypt(t *testing.T) {
	const keyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	stack := newStack(t.TempDir())
	e, err := NewEnforcer(stack, "Enforcer", &EnforcerProps{
		CodePath:      codePath,
		EncryptionKey: awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String(keyARN)),
	})
	if err != nil {
		t.Fatal(err)
	}
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
	if len(statements) != 5 {
		t.Errorf("%d statements, want the 4 of the default stack plus DecryptBaseline", len(statements))
	}
	env := tm.Resource(t, "AWS::Lambda::Function", cdktest.LogicalID(e.Function))["Environment"]
	diff(t, "parameter name", env.(map[string]any)["Variables"].(map[string]any)[EnvParameterName], `"/ecr-baseline/baseline-policy"`)
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
	for _, tc := range []struct {
		name  string
		props *EnforcerProps
		want  string
	}{
		{"nil props", nil, "props are required"},
		{"no policy", &EnforcerProps{CodePath: codePath}, "PolicyText is required"},
		{"not JSON", &EnforcerProps{CodePath: codePath, PolicyText: "{"}, "baseline policy: invalid repository policy: baseline is not valid JSON"},
		{"invalid statement", &EnforcerProps{CodePath: codePath, PolicyText: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`},
			`action "s3:getobject" is not an ecr: action`},
		{"too large for ECR once rendered", &EnforcerProps{CodePath: codePath, PolicyText: strings.Replace(bigPolicy(3000), `"Pull0000"`, `"${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}${RepositoryName}"`, 1)},
			"ECR accepts at most 10240"},
		{"too large for SSM", &EnforcerProps{CodePath: codePath, PolicyText: bigPolicy(8300)},
			"an SSM parameter holds at most 8192 (advanced tier)"},
		{"no code path", &EnforcerProps{PolicyText: policies.Baseline}, "CodePath is required"},
		{"no bootstrap", &EnforcerProps{PolicyText: policies.Baseline, CodePath: noBootstrap}, "has no bootstrap file (run `make build`)"},
		{"negative TTL", &EnforcerProps{PolicyText: policies.Baseline, CodePath: codePath, CacheTTL: -time.Second}, "CacheTTL -1s is negative"},
		{"key and policy", &EnforcerProps{PolicyText: policies.Baseline, CodePath: codePath, EncryptionKey: key},
			"PolicyText must be empty when EncryptionKey is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEnforcer(stack, "Enforcer", tc.props)
			if err == nil || e != nil {
				t.Fatalf("NewEnforcer = %v, %v; want an error", e, err)
			}
			if !strings.HasPrefix(err.Error(), "ecr-baseline Enforcer: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to start with %q and contain %q", err, "ecr-baseline Enforcer: ", tc.want)
			}
		})
	}
	// Every case failed before creating anything, so the id is still free.
	if n := len(*stack.Node().Children()); n != 1 {
		t.Errorf("stack has %d children after failed NewEnforcer calls, want only the key", n)
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
