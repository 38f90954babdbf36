// Package ecrbaseline is the reusable CDK construct of ecr-baseline: two
// EventBridge rules — successful ECR repository creations, policy and tag
// changes, and changes to the baseline parameter — that send their events
// to the enforcer Lambda, which applies the baseline repository policy kept
// in SSM Parameter Store. Embed it in any stack with NewEnforcer.
package ecrbaseline

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Defaults for the optional EnforcerProps fields; those the function also
// has are the function's own (pkg/envconfig).
const (
	DefaultParameterName       = "/ecr-baseline/baseline-policy"
	DefaultCacheTTL            = 5 * time.Minute
	DefaultEnforcementMode     = envconfig.DefaultMode
	DefaultExemptTag           = envconfig.DefaultExemptTag
	DefaultReadTPS             = envconfig.DefaultReadTPS
	DefaultWriteTPS            = envconfig.DefaultWriteTPS
	DefaultBackfillConcurrency = envconfig.DefaultConcurrency
)

// Enforcement modes, the values of EnforcerProps.EnforcementMode.
const (
	// ModeReplace makes a repository's policy exactly the baseline.
	ModeReplace = "replace"
	// ModeMerge adds the baseline's statements by Sid and keeps the
	// repository's others.
	ModeMerge = "merge"
)

// Environment variables the enforcer function reads (pkg/envconfig).
const (
	EnvParameterName       = "BASELINE_PARAMETER_NAME"
	EnvCacheTTL            = "BASELINE_CACHE_TTL"
	EnvDryRun              = "DRY_RUN"
	EnvEnforcementMode     = "ENFORCEMENT_MODE"
	EnvForce               = "FORCE"
	EnvExemptTag           = "EXEMPT_TAG"
	EnvExemptRepositories  = "EXEMPT_REPOSITORIES"
	EnvReadTPS             = "ECR_READ_TPS"
	EnvWriteTPS            = "ECR_WRITE_TPS"
	EnvBackfillConcurrency = "BACKFILL_CONCURRENCY"
	EnvSelfRoleARN         = "SELF_ROLE_ARN"
)

// repositoryActions are the ECR calls the enforcer makes on a repository,
// granted on every repository of the stack's account and region. The
// function lists a repository's tags on every event unless EXEMPT_TAG is
// set empty (tag exemption is on by default), and backfill and the fleet
// re-enforcement after a baseline change page through
// DescribeRepositories. A feature that makes a new call adds it here in the
// same change.
var repositoryActions = []string{
	"ecr:GetRepositoryPolicy",
	"ecr:SetRepositoryPolicy",
	"ecr:ListTagsForResource",
	"ecr:DescribeRepositories",
}

// baselineOperations are the Parameter Store changes that make the function
// drop its cached baseline and re-enforce every repository.
// LabelParameterVersion changes no value, so it is left out.
var baselineOperations = []string{"Create", "Update", "Delete"}

// EnforcerProps configures an Enforcer. Apart from PolicyText and CodePath
// every field is optional; a function setting left unset gets the default
// the function itself applies.
type EnforcerProps struct {
	// PolicyText is the baseline repository policy template, as in
	// policies/baseline.json. It is validated at synth time with the same
	// check the function runs, and stored in the SSM parameter verbatim.
	// Required unless EncryptionKey is set, and must be empty then.
	PolicyText string

	// ParameterName names the SSM parameter holding the baseline.
	// Default: DefaultParameterName.
	ParameterName string

	// CodePath is the directory holding the function's `bootstrap`
	// executable for linux/arm64 (`make build` writes build/enforcer).
	CodePath string

	// DryRun makes the function log the policy it would set without
	// setting it.
	DryRun bool

	// CacheTTL is how long the function keeps the baseline it read from
	// SSM before reading it again. Default: DefaultCacheTTL.
	CacheTTL time.Duration

	// EncryptionKey, when set, is the customer managed KMS key of a
	// SecureString parameter named ParameterName that must already exist:
	// CloudFormation cannot create SecureString parameters, so the
	// construct references it instead of creating it, and grants
	// kms:Decrypt on this key (through SSM only).
	EncryptionKey awskms.IKey

	// ReservedConcurrency caps concurrent executions of the function;
	// nil leaves it to the account's unreserved pool.
	ReservedConcurrency *float64

	// LogRetention is how long the function's logs are kept.
	// Default: one month.
	LogRetention awslogs.RetentionDays

	// EnforcementMode is ModeReplace (the repository policy becomes
	// exactly the baseline) or ModeMerge (the baseline's statements are
	// added by Sid, the repository's others kept; every baseline statement
	// then needs a Sid, checked at synth). Default: ModeReplace.
	EnforcementMode string

	// Force applies a baseline that would lock the account out of setting
	// repository policies again, and passes force to SetRepositoryPolicy.
	// Without it synth refuses such a baseline, naming the statement.
	Force bool

	// ExemptTag is the key=value tag that exempts a repository; an empty
	// string turns tag exemption off. Default (nil): DefaultExemptTag.
	ExemptTag *string

	// ExemptRepositories exempt repositories whose name matches one of
	// these Go path.Match patterns (`*` does not cross `/`), such as
	// "sandbox/*". A pattern cannot hold a comma: the function reads them
	// as one comma-separated variable.
	ExemptRepositories []string

	// ReadTPS and WriteTPS pace the function's ECR reads and writes per
	// container, in calls per second. Default (nil): DefaultReadTPS and
	// DefaultWriteTPS.
	ReadTPS, WriteTPS *float64

	// BackfillConcurrency is how many repositories a backfill or fleet
	// re-enforcement handles at once; a whole number.
	// Default (nil): DefaultBackfillConcurrency.
	BackfillConcurrency *float64
}

// Enforcer is the deployed ecr-baseline: the rule, the function, the
// baseline parameter and the queues that catch what could not be delivered
// or processed. Its fields let the embedding stack add outputs or alarm
// actions.
type Enforcer struct {
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
	// RuleDeadLetterQueue receives events EventBridge could not deliver to
	// the function.
	RuleDeadLetterQueue awssqs.Queue
	// FailureQueue receives invocation records of events the function
	// failed on after its async retries.
	FailureQueue awssqs.Queue
	// Alarms fire on function errors, on messages in either queue and on
	// repositories the function reports as failed; they
	// have no actions, so the embedding stack can add its own.
	Alarms []awscloudwatch.Alarm
}

// SSM parameter value limits, counted here in bytes: never fewer than the
// characters SSM counts, so a value that fits by this count always fits.
const (
	standardTierLimit = 4096
	advancedTierLimit = 8192
)

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
)

// NewEnforcer adds an ecr-baseline enforcer to scope. It returns an error,
// before creating anything, when the props are incomplete or the baseline
// is invalid or too large for an SSM parameter.
func NewEnforcer(scope constructs.Construct, id string, props *EnforcerProps) (*Enforcer, error) {
	p, tier, err := checkProps(props)
	if err != nil {
		return nil, fmt.Errorf("ecr-baseline %s: %w", id, err)
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	e := &Enforcer{Construct: c}
	stack := awscdk.Stack_Of(c)

	if p.EncryptionKey == nil {
		e.Parameter = awsssm.NewStringParameter(c, jsii.String("Parameter"), &awsssm.StringParameterProps{
			ParameterName: jsii.String(p.ParameterName),
			StringValue:   jsii.String(p.PolicyText),
			Tier:          tier,
			Description:   jsii.String("ecr-baseline: baseline ECR repository policy template"),
		})
	} else {
		e.Parameter = awsssm.StringParameter_FromSecureStringParameterAttributes(c, jsii.String("Parameter"),
			&awsssm.SecureStringParameterAttributes{
				ParameterName: jsii.String(p.ParameterName),
				EncryptionKey: p.EncryptionKey,
			})
	}

	e.RuleDeadLetterQueue = newDeadLetterQueue(c, "RuleDeadLetterQueue")
	e.FailureQueue = newDeadLetterQueue(c, "FailureQueue")

	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention,
	})

	// The function invokes itself to continue a fleet run, so its role's
	// policy names the function. A name fixed at synth time keeps that
	// statement free of the function's own attributes, which would make
	// policy -> function -> policy a cycle: the function depends on its role
	// and the role's policy. PhysicalName_GENERATE_IF_NEEDED only generates
	// a name for references from another environment, so it can't be used.
	functionName := awscdk.Names_UniqueResourceName(c, &awscdk.UniqueResourceNameOptions{
		MaxLength: jsii.Number(64), // Lambda's limit
		Separator: jsii.String("-"),
	})

	// An explicit role instead of the default AWSLambdaBasicExecutionRole,
	// which allows writing to every log group in the account.
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("ecr-baseline enforcer"),
	})
	addStatement(role, "WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, logGroup.LogGroupArn())
	addStatement(role, "ReadBaseline", []string{"ssm:GetParameter"}, e.Parameter.ParameterArn())
	addStatement(role, "EnforceRepositoryPolicy", repositoryActions, stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecr"),
		Resource:     jsii.String("repository"),
		ResourceName: jsii.String("*"),
	}))
	addStatement(role, "ContinueFleetRun", []string{"lambda:InvokeFunction"}, stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("lambda"),
		Resource:     jsii.String("function"),
		ResourceName: functionName,
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	}))
	addStatement(role, "ReportFailure", []string{"sqs:SendMessage"}, e.FailureQueue.QueueArn())
	if p.EncryptionKey != nil {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DecryptBaseline"),
			Actions:   jsii.Strings("kms:Decrypt"),
			Resources: jsii.Strings(*p.EncryptionKey.KeyArn()),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{
					"kms:ViaService": fmt.Sprintf("ssm.%s.amazonaws.com", *stack.Region()),
				},
			},
		}))
	}

	e.Function = awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		FunctionName: functionName,
		Description:  jsii.String("ecr-baseline: applies the baseline policy to ECR repositories"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(p.CodePath), nil),
		MemorySize:   jsii.Number(128),
		// Room for the backfill run, which walks every repository.
		Timeout:                      awscdk.Duration_Minutes(jsii.Number(5)),
		Role:                         role,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2:        awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
		ReservedConcurrentExecutions: p.ReservedConcurrency,
		Environment: &map[string]*string{
			EnvParameterName:       e.Parameter.ParameterName(),
			EnvCacheTTL:            jsii.String(p.CacheTTL.String()),
			EnvDryRun:              jsii.String(strconv.FormatBool(p.DryRun)),
			EnvEnforcementMode:     jsii.String(p.EnforcementMode),
			EnvForce:               jsii.String(strconv.FormatBool(p.Force)),
			EnvExemptTag:           p.ExemptTag,
			EnvExemptRepositories:  jsii.String(strings.Join(p.ExemptRepositories, ",")),
			EnvReadTPS:             jsii.String(formatNumber(*p.ReadTPS)),
			EnvWriteTPS:            jsii.String(formatNumber(*p.WriteTPS)),
			EnvBackfillConcurrency: jsii.String(formatNumber(*p.BackfillConcurrency)),
			// Its own policy writes come back as SetRepositoryPolicy events
			// with this role as the session issuer: the function skips them.
			EnvSelfRoleARN: role.RoleArn(),
		},
	})

	// The function L2 adds DependsOn its role next to the GetAtt of the
	// role's ARN (the DependsOn also covers the role's policy); cfn-lint
	// warns that the role half is redundant, which is true and harmless.
	e.Function.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
		"config": map[string]interface{}{"ignore_checks": []string{"W3005"}},
	})

	// The L1 resource, not the function's OnFailure prop: the L2 SQS
	// destination also grants sqs:GetQueueAttributes and sqs:GetQueueUrl,
	// which Lambda does not need to deliver a failure record.
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

	e.Rule = awsevents.NewRule(c, jsii.String("RepositoryEventsRule"), &awsevents.RuleProps{
		Description:  jsii.String("ecr-baseline: successful ECR repository creations, policy changes and tag changes"),
		EventPattern: EventPattern(),
	})
	// The parameter's name, not its Ref: the name is known here in both
	// parameter modes, and the pattern stays plain JSON.
	e.BaselineChangeRule = awsevents.NewRule(c, jsii.String("BaselineChangeRule"), &awsevents.RuleProps{
		Description:  jsii.String("ecr-baseline: changes to the baseline parameter"),
		EventPattern: BaselineChangePattern(p.ParameterName),
	})
	for _, rule := range []awsevents.Rule{e.Rule, e.BaselineChangeRule} {
		rule.AddTarget(awseventstargets.NewLambdaFunction(e.Function, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: e.RuleDeadLetterQueue,
			RetryAttempts:   jsii.Number(ruleRetryAttempts),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(ruleMaxEventAge.Seconds())),
		}))
	}

	e.Alarms = []awscloudwatch.Alarm{
		newAlarm(c, "FunctionErrors", "ecr-baseline: the enforcer function failed",
			e.Function.MetricErrors(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Sum"),
			})),
		newAlarm(c, "RuleDeadLetters", "ecr-baseline: EventBridge could not deliver events to the function; see the rule dead-letter queue",
			e.RuleDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Maximum"),
			})),
		newAlarm(c, "FunctionFailures", "ecr-baseline: the function gave up on events; see the failure queue",
			e.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Period:    awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic: jsii.String("Maximum"),
			})),
		// The function's own metric (pkg/metrics, Embedded Metric Format)
		// also sees a backfill's failed repositories, which end the
		// invocation successfully and so never count as Lambda errors.
		newAlarm(c, "RepositoryFailures", "ecr-baseline: repositories could not be enforced; see the function's log for each repository and reason",
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String(metrics.Namespace),
				MetricName:    jsii.String(metrics.Failed),
				DimensionsMap: &map[string]*string{metrics.DimensionFunctionName: e.Function.FunctionName()},
				Period:        awscdk.Duration_Minutes(jsii.Number(5)),
				Statistic:     jsii.String("Sum"),
			})),
	}

	suppressNagFindings(e, role)
	return e, nil
}

// checkProps returns props with defaults filled in and the parameter tier
// the baseline needs.
func checkProps(props *EnforcerProps) (EnforcerProps, awsssm.ParameterTier, error) {
	if props == nil {
		return EnforcerProps{}, "", errors.New("props are required")
	}
	p := *props
	if p.ParameterName == "" {
		p.ParameterName = DefaultParameterName
	}
	if p.CacheTTL == 0 {
		p.CacheTTL = DefaultCacheTTL
	}
	if p.CacheTTL < 0 {
		return p, "", fmt.Errorf("CacheTTL %s is negative", p.CacheTTL)
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if err := checkOptions(&p); err != nil {
		return p, "", err
	}
	if p.CodePath == "" {
		return p, "", errors.New("CodePath is required: the directory holding the function's bootstrap")
	}
	// Code_FromAsset accepts any directory; without this check a missing
	// build would deploy a function that cannot start.
	if st, err := os.Stat(filepath.Join(p.CodePath, "bootstrap")); err != nil || !st.Mode().IsRegular() {
		return p, "", fmt.Errorf("CodePath %s has no bootstrap file (run `make build`)", p.CodePath)
	}

	if p.EncryptionKey != nil {
		if p.PolicyText != "" {
			return p, "", errors.New("PolicyText must be empty when EncryptionKey is set: " +
				"CloudFormation cannot create SecureString parameters, so put the baseline with " +
				"`aws ssm put-parameter --type SecureString` and the stack only references it")
		}
		return p, "", nil
	}
	if p.PolicyText == "" {
		return p, "", errors.New("PolicyText is required (the baseline policy template)")
	}
	if err := checkBaseline(p.PolicyText, p.EnforcementMode, p.Force); err != nil {
		return p, "", fmt.Errorf("baseline policy: %w", err)
	}
	tier, err := parameterTier(len(p.PolicyText))
	if err != nil {
		return p, "", fmt.Errorf("baseline policy: %w", err)
	}
	return p, tier, nil
}

// checkOptions fills in the defaults of the function's options and checks
// them the way the function's loader will, so synth fails where the
// function would refuse to start.
func checkOptions(p *EnforcerProps) error {
	var problems []error
	switch p.EnforcementMode {
	case "":
		p.EnforcementMode = DefaultEnforcementMode
	case ModeReplace, ModeMerge:
	default:
		problems = append(problems, fmt.Errorf("EnforcementMode must be %q or %q, got %q", ModeReplace, ModeMerge, p.EnforcementMode))
	}
	if p.ExemptTag == nil {
		p.ExemptTag = jsii.String(DefaultExemptTag)
	} else if tag := *p.ExemptTag; tag != "" {
		if k, _, found := strings.Cut(tag, "="); !found || k == "" {
			problems = append(problems, fmt.Errorf("ExemptTag must be key=value, or empty to turn tag exemption off, got %q", tag))
		}
	}
	for _, g := range p.ExemptRepositories {
		_, err := path.Match(g, "")
		if err != nil || g == "" || strings.TrimSpace(g) != g || strings.Contains(g, ",") {
			problems = append(problems, fmt.Errorf("ExemptRepositories: %q is not a pattern (Go path.Match syntax, no comma, no surrounding spaces)", g))
		}
	}
	for _, n := range []struct {
		name  string
		value **float64
		def   float64
		whole bool
	}{
		{"ReadTPS", &p.ReadTPS, DefaultReadTPS, false},
		{"WriteTPS", &p.WriteTPS, DefaultWriteTPS, false},
		{"BackfillConcurrency", &p.BackfillConcurrency, DefaultBackfillConcurrency, true},
	} {
		if *n.value == nil {
			*n.value = jsii.Number(n.def)
			continue
		}
		v := **n.value
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0) || v <= 0:
			problems = append(problems, fmt.Errorf("%s must be a positive number, got %v", n.name, v))
		case n.whole && v != math.Trunc(v):
			problems = append(problems, fmt.Errorf("%s must be a whole number, got %v", n.name, v))
		}
	}
	return errors.Join(problems...)
}

// lockOutSample is the repository synth renders the baseline for to run
// the lock-out guard. The guard reads Effect, Principal, Action and
// Condition, which a baseline has no reason to vary by repository; the
// function still runs it on every repository's rendering before a write.
var lockOutSample = policy.Vars{
	AccountID:      "123456789012",
	Region:         "us-east-1",
	RepositoryName: "sample",
	RepositoryARN:  "arn:aws:ecr:us-east-1:123456789012:repository/sample",
}

// checkBaseline runs on the template the checks the function runs when it
// loads it: valid for every repository, a Sid on every statement in merge
// mode, and, unless force is set, no statement that would lock the account
// out of setting repository policies again.
func checkBaseline(text, mode string, force bool) error {
	if err := policy.CheckTemplate(text); err != nil {
		return err
	}
	if mode == ModeMerge {
		if err := policy.RequireSids(text); err != nil {
			return fmt.Errorf("merge mode: %w", err)
		}
	}
	if force {
		return nil
	}
	rendered, err := policy.Render(text, lockOutSample)
	if err != nil {
		return err
	}
	doc, err := policy.Validate(rendered)
	if err != nil {
		return err
	}
	if err := policy.CheckLockOut(doc); err != nil {
		return fmt.Errorf("%w (the Force prop; context force=true)", err)
	}
	return nil
}

// formatNumber writes a number the way the function parses it back.
func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parameterTier picks the cheapest SSM tier that holds a value of size
// bytes. ECR accepts policies up to 10240 characters, but a template larger
// than the advanced tier's 8 KB cannot be kept in Parameter Store at all.
func parameterTier(size int) (awsssm.ParameterTier, error) {
	switch {
	case size <= standardTierLimit:
		return awsssm.ParameterTier_STANDARD, nil
	case size <= advancedTierLimit:
		return awsssm.ParameterTier_ADVANCED, nil
	default:
		return "", fmt.Errorf("template is %d bytes; an SSM parameter holds at most %d (advanced tier): shorten it (whitespace counts)",
			size, advancedTierLimit)
	}
}

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
// skips them.
func EventPattern() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings("aws.ecr"),
		DetailType: jsii.Strings("AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"),
		Detail: &map[string]interface{}{
			"eventSource": []string{"ecr.amazonaws.com", "replication.ecr.amazonaws.com"},
			"eventName":   []string{"CreateRepository", "SetRepositoryPolicy", "DeleteRepositoryPolicy", "TagResource", "UntagResource"},
			"errorCode":   []interface{}{map[string]interface{}{"exists": false}},
		},
	}
}

// BaselineChangePattern matches Parameter Store's change events for the
// parameter named parameterName, on which the function drops its cached
// baseline and re-enforces every repository.
func BaselineChangePattern(parameterName string) *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings("aws.ssm"),
		DetailType: jsii.Strings("Parameter Store Change"),
		Detail: &map[string]interface{}{
			"name":      []string{parameterName},
			"operation": baselineOperations,
		},
	}
}

func newDeadLetterQueue(scope constructs.Construct, id string) awssqs.Queue {
	// SQS-managed encryption rather than KMS: EventBridge cannot send to a
	// queue encrypted with the AWS managed aws/sqs key.
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(queueRetention.Seconds())),
	})
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
