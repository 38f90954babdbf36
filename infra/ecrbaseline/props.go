package ecrbaseline

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// EnforcerProps configures an Enforcer. PolicyText is required unless
// EncryptionKey is set; everything else is optional, with the defaults
// each field names. NewEnforcer panics, before creating anything, on a
// prop it cannot use, with a message naming the prop.
type EnforcerProps struct {
	// PolicyText is the baseline repository policy template, as in
	// policies/baseline.json. It is validated at synth time with the same
	// check the function runs, and stored in the SSM parameter verbatim.
	// Required unless EncryptionKey is set, and must be nil then.
	PolicyText *string

	// CodePath, when set, is a directory holding a prebuilt `bootstrap`,
	// a linux/arm64 executable (`make build` writes build/enforcer), which
	// NewEnforcer checks. Default: the function is built from this
	// module's source at synth, with the Go toolchain of the machine (no
	// Docker), in the module's directory found with `go list -m` from the
	// directory the app runs in.
	CodePath *string

	// EncryptionKey, when set, is the customer managed KMS key of a
	// SecureString parameter named by the parameterName setting that must
	// already exist: CloudFormation cannot create SecureString parameters,
	// so the construct references it instead of creating it, and grants
	// kms:Decrypt on this key (through SSM only).
	EncryptionKey awskms.IKey

	// Settings are the function's settings by CDK context key — the
	// context keys of pkg/envconfig's table, such as "dryRun",
	// "enforcementMode", "exemptRepositories" or "writeTps" — as text, the
	// way `cdk synth -c key=value` gives them. A key left out gets the
	// function's default. Synth refuses an unknown key and, with the
	// function's own parser, any value the function would refuse at start.
	Settings map[string]string

	// AlarmTopic, when set, is notified by every alarm of Enforcer.Alarms
	// when it fires and when it clears. Default: the alarms have no
	// actions.
	AlarmTopic awssns.ITopic

	// DashboardName names the CloudWatch dashboard. Default: the stack's
	// name and the construct's id, "<stack>-<id>".
	DashboardName *string

	// LogRetention is how long the function's logs are kept.
	// Default: one month.
	LogRetention awslogs.RetentionDays

	// ArchiveRetention is how long the archive bucket keeps each record of
	// a replaced policy, current and noncurrent versions alike, in whole
	// days. Default: DefaultArchiveRetentionDays.
	ArchiveRetention awscdk.Duration

	// SweepMaxConcurrency is the event source mapping's maximum
	// concurrency: how many invocations consume the sweep queue at once,
	// which bounds a sweep's total call rate across containers. Lambda
	// accepts 2 to 1000. Default: DefaultSweepMaxConcurrency.
	SweepMaxConcurrency *float64

	// ReconcileSchedule is when the reconciliation sweep runs, which
	// catches what events missed (a lost event, a removed exemption, a
	// configuration change). It writes only with the
	// applyToExistingRepositories setting, like a baseline change's sweep.
	// Default: once a day.
	ReconcileSchedule awsevents.Schedule

	// QueueRemovalPolicy applies to the four queues when they leave the
	// stack. Default: RemovalPolicy_DESTROY, with any message in them.
	QueueRemovalPolicy awscdk.RemovalPolicy
	// LogRemovalPolicy applies to the function's log group.
	// Default: RemovalPolicy_RETAIN.
	LogRemovalPolicy awscdk.RemovalPolicy
	// ParameterRemovalPolicy applies to the baseline parameter; it cannot
	// be set with EncryptionKey, where the stack does not own the
	// parameter. Default: RemovalPolicy_DESTROY.
	ParameterRemovalPolicy awscdk.RemovalPolicy
	// ArchiveRemovalPolicy applies to the archive bucket. CloudFormation
	// deletes a bucket only when it is empty. Default:
	// RemovalPolicy_RETAIN: deleting the stack must not take the only
	// copy of the policies it replaced.
	ArchiveRemovalPolicy awscdk.RemovalPolicy

	// FunctionProps overrides the function's props: any field set here
	// replaces the construct's default (MemorySize 128, Timeout 2 minutes,
	// no reserved concurrency, ...). The fields the construct needs to own
	// (Code, Role, Environment, the log group and log levels, the
	// asynchronous retries and destinations, ...) are refused, with the
	// prop to use instead where there is one. The sweep queue's visibility
	// timeout follows Timeout.
	FunctionProps *awslambda.FunctionProps

	// QueueProps overrides the props of every queue (RetentionPeriod,
	// default 14 days, SQS's maximum; DeliveryDelay; ...). Encryption, TLS,
	// names, FIFO, redrive and visibility are the construct's.
	QueueProps *awssqs.QueueProps

	// RuleProps overrides the props of every rule, the organisation hub's
	// member rule included: Enabled (false stops every event and the
	// reconciliation from reaching the function, without deleting
	// anything), Role, CrossStackScope. Patterns,
	// schedule, targets, names, descriptions and the bus are the
	// construct's.
	RuleProps *awsevents.RuleProps
}

// DefaultArchiveRetentionDays keeps a replaced policy for a year and a
// month: long enough to restore it after a yearly review or audit finds a
// bad baseline, where CloudTrail's event history, the only other trace of
// it, keeps 90 days. Records are a few KB each, so a longer retention costs
// little; a shorter one is for accounts that must not keep policy text long.
const DefaultArchiveRetentionDays = 400

// DefaultSweepMaxConcurrency lets a sweep run on a few containers at once:
// each paces itself to ECR's throttling, so more adds little but load.
const DefaultSweepMaxConcurrency = 5

// settingsName names a key of EnforcerProps.Settings in messages.
func settingsName(key string) string { return fmt.Sprintf("Settings[%q]", key) }

// resolveSettings checks props' Settings with the function's parsers and
// returns the configuration the function will run with.
func resolveSettings(given map[string]string) (envconfig.Config, error) {
	known := map[string]bool{}
	var keys []string
	for _, s := range envconfig.Settings {
		if s.Context != "" {
			known[s.Context] = true
			keys = append(keys, s.Context)
		}
	}
	var unknown []string
	for k := range given {
		if !known[k] {
			unknown = append(unknown, settingsName(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return envconfig.Config{}, fmt.Errorf("%s: no such setting; the settings are %s", strings.Join(unknown, ", "), strings.Join(keys, ", "))
	}
	cfg, _, err := envconfig.Resolve(func(s *envconfig.Setting) (string, string, bool) {
		v, ok := given[s.Context]
		return v, settingsName(s.Context), ok && s.Context != ""
	})
	return cfg, err
}

// checkProps returns props with defaults filled in, the settings the
// function will run with, and the parameter tier the baseline needs.
func checkProps(props *EnforcerProps, env stackEnv) (EnforcerProps, envconfig.Config, awsssm.ParameterTier, error) {
	if props == nil {
		return EnforcerProps{}, envconfig.Config{}, "", errors.New("props are required")
	}
	p := *props
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.ArchiveRetention == nil {
		p.ArchiveRetention = awscdk.Duration_Days(jsii.Number(DefaultArchiveRetentionDays))
	}
	// Any fraction of a day would be lost: S3 expires objects by whole days.
	if days := *p.ArchiveRetention.ToDays(&awscdk.TimeConversionOptions{Integral: jsii.Bool(false)}); days < 1 || days != math.Trunc(days) {
		return p, envconfig.Config{}, "", fmt.Errorf("ArchiveRetention must be a whole number of days, at least 1, got %s",
			*p.ArchiveRetention.ToHumanString())
	}
	if p.SweepMaxConcurrency == nil {
		p.SweepMaxConcurrency = jsii.Number(DefaultSweepMaxConcurrency)
	}
	if n := *p.SweepMaxConcurrency; n < 2 || n > 1000 || n != math.Trunc(n) {
		return p, envconfig.Config{}, "", fmt.Errorf("SweepMaxConcurrency must be a whole number from 2 to 1000 (Lambda's limits), got %v", n)
	}
	// The mapping does not see reserved concurrency: above it, batches
	// are throttled, each throttle spends an item's receive, and items
	// drift into the dead-letter queue untried. Events need one more.
	if f := p.FunctionProps; f != nil && f.ReservedConcurrentExecutions != nil && *f.ReservedConcurrentExecutions < *p.SweepMaxConcurrency+1 {
		return p, envconfig.Config{}, "", fmt.Errorf("FunctionProps.ReservedConcurrentExecutions %v leaves no room for SweepMaxConcurrency %v sweep batches and the events: reserve at least %v",
			*f.ReservedConcurrentExecutions, *p.SweepMaxConcurrency, *p.SweepMaxConcurrency+1)
	}
	if p.ReconcileSchedule == nil {
		p.ReconcileSchedule = awsevents.Schedule_Rate(awscdk.Duration_Days(jsii.Number(1)))
	}
	for _, r := range []struct {
		policy *awscdk.RemovalPolicy
		value  awscdk.RemovalPolicy
	}{
		{&p.QueueRemovalPolicy, awscdk.RemovalPolicy_DESTROY},
		{&p.LogRemovalPolicy, awscdk.RemovalPolicy_RETAIN},
		{&p.ParameterRemovalPolicy, awscdk.RemovalPolicy_DESTROY},
		{&p.ArchiveRemovalPolicy, awscdk.RemovalPolicy_RETAIN},
	} {
		if *r.policy == "" {
			*r.policy = r.value
		}
	}
	if err := resolveOverrides(&p); err != nil {
		return p, envconfig.Config{}, "", err
	}
	cfg, err := resolveSettings(p.Settings)
	if err == nil {
		err = checkOrganization(cfg)
	}
	if err != nil {
		return p, cfg, "", err
	}
	if p.EncryptionKey != nil {
		switch {
		case p.PolicyText != nil:
			return p, cfg, "", errors.New("PolicyText must be nil when EncryptionKey is set: " +
				"CloudFormation cannot create SecureString parameters, so put the baseline with " +
				"`aws ssm put-parameter --type SecureString` and the stack only references it")
		case props.ParameterRemovalPolicy != "":
			return p, cfg, "", errors.New("ParameterRemovalPolicy must be empty when EncryptionKey is set: " +
				"the stack references the SecureString parameter, it does not own it")
		}
		return p, cfg, "", nil
	}
	if p.PolicyText == nil || *p.PolicyText == "" {
		return p, cfg, "", errors.New("PolicyText is required (the baseline policy template)")
	}
	if err := checkBaseline(*p.PolicyText, cfg, env); err != nil {
		return p, cfg, "", fmt.Errorf("baseline policy: %w", err)
	}
	tier, err := parameterTier(len(*p.PolicyText))
	if err != nil {
		return p, cfg, "", fmt.Errorf("baseline policy: %w", err)
	}
	return p, cfg, tier, nil
}

// checkBaseline runs on the template the checks the function runs when it
// loads it (policy.Guard: valid for every repository, nothing granted
// outside the account that the settings do not allow, and, unless force
// is set, no statement that would lock the enforcer out), plus a Sid on
// every statement in merge mode. The account and partition are known at
// synth only when the stack names them (knownEnv), and the function's role
// gets its name from CloudFormation at deploy (newRole sets no RoleName),
// so a Deny on a role named literally cannot be on it; the function checks
// again with its real role when it loads the baseline.
func checkBaseline(text string, cfg envconfig.Config, env stackEnv) error {
	guard := policy.Guard{AccountID: env.account, Region: env.region, Regions: cfg.MemberRegions, AllowedPrincipals: cfg.AllowedPrincipals, AllowPublic: cfg.AllowPublic, Force: cfg.Force,
		SelfRoleNameGenerated: true}
	err := guard.Check(text)
	if cfg.OrganizationMode() {
		// As the function checks it at load: a baseline every member
		// would refuse fails here, not at each of their repositories.
		// What the hub refused in the same words is said once.
		member := guard.CheckAsMember(text, env.partition, cfg.MemberRoleName)
		if same := errors.Unwrap(member); member != nil && (err == nil || same == nil || same.Error() != err.Error()) {
			err = errors.Join(err, member)
		}
	}
	if errors.Is(err, policy.ErrLockOut) {
		return fmt.Errorf("%w (the force setting: context force=true)", err)
	} else if err != nil {
		return err
	}
	if enforcer.Mode(cfg.Mode) == enforcer.Merge {
		if err := policy.RequireSids(text); err != nil {
			return fmt.Errorf("merge mode: %w", err)
		}
	}
	return nil
}

// stackEnv is what synth knows of where the stack deploys.
type stackEnv struct{ account, region, partition string }

// knownEnv is the account and region of scope's stack when the stack
// names them (an explicit env), or "" when CDK leaves them to deploy time:
// then the guard knows only what ${AccountId} and ${Region} render to as
// the account's own and the call's region; and its partition when CDK
// knows it from the region, else "aws".
func knownEnv(scope constructs.Construct) stackEnv {
	stack := awscdk.Stack_Of(scope)
	resolved := func(v *string, otherwise string) string {
		if v == nil || *awscdk.Token_IsUnresolved(v) {
			return otherwise
		}
		return *v
	}
	return stackEnv{account: resolved(stack.Account(), ""), region: resolved(stack.Region(), ""), partition: resolved(stack.Partition(), "aws")}
}

// SSM parameter value limits, counted here in bytes: never fewer than the
// characters SSM counts, so a value that fits by this count always fits.
const (
	standardTierLimit = 4096
	advancedTierLimit = 8192
)

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
