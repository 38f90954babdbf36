// Package envconfig is ecr-baseline's one table of settings — for each,
// the function's environment variable, the CDK context key, the CLI flag,
// the default and the one function that parses and validates it — and the
// function's loader. The function (Load), the construct
// (infra/ecrbaseline) and the CLI (pkg/cli) all resolve settings through
// Resolve, so they accept and refuse the same values with the same
// messages, each naming the setting the way its user wrote it.
package envconfig

import (
	"errors"
	"fmt"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

// Config is every setting the function reads.
type Config struct {
	// ParameterName is the SSM parameter holding the baseline template.
	ParameterName string
	// CacheTTL is how long a warm container reuses the baseline.
	CacheTTL time.Duration
	// DryRun logs what would change and writes nothing.
	DryRun bool
	// ReadTPS and WriteTPS cap ECR reads and writes per second per
	// container; 0 is no ceiling. Below them the pace adapts to throttling
	// (awsconfig.Paced).
	ReadTPS, WriteTPS float64
	// Concurrency is how many repositories a CLI backfill, or items a
	// sweep batch, are handled at once.
	Concurrency int
	// Mode is "replace" or "merge".
	Mode string
	// Force applies a baseline that fails the lock-out guard.
	Force bool
	// ExemptTagKey and ExemptTagValue exempt tagged repositories; an empty
	// key turns tag exemption off.
	ExemptTagKey, ExemptTagValue string
	// ExemptGlobs exempt repositories by name.
	ExemptGlobs []string
	// AllowedPrincipals are the account and organization IDs outside this
	// account a baseline may grant to (policy.Guard).
	AllowedPrincipals []string
	// AllowPublic acknowledges a baseline that grants to everyone.
	AllowPublic bool
	// ArchiveBucket is the S3 bucket every policy write is archived in
	// before it is made (pkg/archive); empty only where the operator
	// opted out (the CLI's --no-archive).
	ArchiveBucket string
	// ApplyToExisting lets the sweeps a baseline change (a deploy's
	// included) or the reconciliation starts write; without it they are
	// dry runs whose results say what they would change.
	ApplyToExisting bool
	// MemberAccounts and MemberOrganizationalUnits are the accounts an
	// organisation's hub enforces in besides its own registry, listed or
	// found through AWS Organizations; MemberRegions the regions covered
	// in each (none: the function's own); MemberRoleName the role the
	// function assumes in each. With neither list the function enforces
	// its own account and region only.
	MemberAccounts, MemberOrganizationalUnits, MemberRegions []string
	MemberRoleName                                           string
	// OrganizationID is the organisation (o-...) whose accounts may send
	// events to the hub's bus and whose member roles the function may
	// assume; empty outside organisation mode.
	OrganizationID string
	// SweepQueueURL is the queue sweeps run on; SweepDeadLetterQueueURL
	// its dead-letter queue, where an item that failed its
	// SweepMaxReceiveCount-th receive is sent with the reason.
	SweepQueueURL, SweepDeadLetterQueueURL string
	SweepMaxReceiveCount                   int
	// SelfRoleARN is the function's own role: policy changes it made are
	// its own writes and must not trigger it again.
	SelfRoleARN string
	// FunctionName is the function itself, the dimension of its metrics;
	// empty outside Lambda.
	FunctionName string
}

// Ceilings outside these bounds are refused: below, a token bucket waits so
// long between calls that a run looks hung; above, it no longer paces.
// ECR publishes no quota for the calls paced, so no ceiling is the default
// and the pace adapts to throttling instead.
const (
	MinTPS = 0.1
	MaxTPS = 10000
)

// The settings, in the order every entry point lists and checks them.
var (
	ParameterName = text(Setting{Env: "BASELINE_PARAMETER_NAME", Context: "parameterName", Flag: "parameter",
		Default: "/ecr-baseline/baseline-policy", Usage: "SSM parameter holding the baseline template"},
		func(c *Config) *string { return &c.ParameterName })
	CacheTTL = duration(Setting{Env: "BASELINE_CACHE_TTL", Context: "cacheTTL",
		Default: "5m", Usage: "how long a warm container reuses the baseline (0s reads it every time)"},
		func(c *Config) *time.Duration { return &c.CacheTTL })
	DryRun = boolean(Setting{Env: "DRY_RUN", Context: "dryRun", Flag: "dry-run",
		Default: "false", Usage: "report what would change, write nothing"},
		func(c *Config) *bool { return &c.DryRun })
	Mode = mode(Setting{Env: "ENFORCEMENT_MODE", Context: "enforcementMode", Flag: "mode",
		Default: string(enforcer.Replace), Usage: "replace or merge"})
	Force = boolean(Setting{Env: "FORCE", Context: "force", Flag: "force",
		Default: "false", Usage: "apply a baseline that fails the lock-out guard"},
		func(c *Config) *bool { return &c.Force })
	ExemptTag = tag(Setting{Env: "EXEMPT_TAG", Context: "exemptTag", Flag: "exempt-tag", emptyIsValue: true,
		Usage: "key=value tag that exempts a repository, empty (the default) for none"})
	ExemptRepositories = patterns(Setting{Env: "EXEMPT_REPOSITORIES", Context: "exemptRepositories", Flag: "exempt", emptyIsValue: true,
		Usage: "comma-separated name patterns to exempt (Go path.Match)"})
	ReadTPS = rate(Setting{Env: "ECR_READ_TPS", Context: "readTps", Flag: "read-tps",
		Usage: "ceiling on ECR reads per second, empty (the default) for none: the pace adapts to throttling"},
		func(c *Config) *float64 { return &c.ReadTPS })
	WriteTPS = rate(Setting{Env: "ECR_WRITE_TPS", Context: "writeTps", Flag: "write-tps",
		Usage: "ceiling on ECR writes per second, empty (the default) for none: the pace adapts to throttling"},
		func(c *Config) *float64 { return &c.WriteTPS })
	Concurrency = count(Setting{Env: "BACKFILL_CONCURRENCY", Context: "backfillConcurrency", Flag: "concurrency",
		Default: "8", Usage: "repositories a backfill, or items of a sweep batch, handled at once"},
		func(c *Config) *int { return &c.Concurrency })
	AllowedPrincipals = principals(Setting{Env: "ALLOWED_PRINCIPALS", Context: "allowedPrincipals", Flag: "allowed-principals", emptyIsValue: true,
		Usage: "comma-separated account IDs and organization IDs (o-...) outside this account the baseline may grant to"})
	AllowPublic = boolean(Setting{Env: "ALLOW_PUBLIC", Context: "allowPublic", Flag: "allow-public",
		Default: "false", Usage: "accept a baseline that grants to everyone (\"*\" without an organization condition)"},
		func(c *Config) *bool { return &c.AllowPublic })
	ApplyToExisting = boolean(Setting{Env: "APPLY_TO_EXISTING_REPOSITORIES", Context: "applyToExistingRepositories",
		Default: "false", Usage: "let the sweeps a baseline change or the reconciliation starts write (false: they report what they would change)"},
		func(c *Config) *bool { return &c.ApplyToExisting })
	// ArchiveBucket is set by the stack to the bucket it creates; the CLI
	// finds it with the flag.
	ArchiveBucket = text(Setting{Env: "ARCHIVE_BUCKET", Flag: "archive-bucket", emptyIsValue: true,
		Usage: "S3 bucket the replaced policies are archived in before each write"},
		func(c *Config) *string { return &c.ArchiveBucket })
	// The organisation: which accounts and regions a hub enforces in, and
	// how it reaches them (see docs/organization.md).
	MemberAccounts = list(Setting{Env: "MEMBER_ACCOUNTS", Context: "memberAccounts",
		Usage: "comma-separated 12-digit account IDs the function enforces in (organisation mode)"},
		func(c *Config) *[]string { return &c.MemberAccounts }, "12-digit account IDs", checkAccount)
	MemberOrganizationalUnits = list(Setting{Env: "MEMBER_ORGANIZATIONAL_UNITS", Context: "memberOrganizationalUnits",
		Usage: "comma-separated organizational units (ou-...), or the organisation's root (r-...) for all of it, whose accounts the function enforces in, found with AWS Organizations"},
		func(c *Config) *[]string { return &c.MemberOrganizationalUnits }, "organizational unit or root IDs", checkOU)
	MemberRegions = list(Setting{Env: "MEMBER_REGIONS", Context: "memberRegions",
		Usage: "comma-separated regions enforced in each member account (empty: the function's own region)"},
		func(c *Config) *[]string { return &c.MemberRegions }, "region names", checkRegion)
	MemberRoleName = text(Setting{Env: "MEMBER_ROLE_NAME", Context: "memberRoleName",
		Default: "ecr-baseline-member", Usage: "the role the function assumes in each member account"},
		func(c *Config) *string { return &c.MemberRoleName })
	OrganizationID = text(Setting{Env: "ORGANIZATION_ID", Context: "organizationId", emptyIsValue: true,
		Usage: "the organisation (o-...) whose accounts may send events to the hub and host member roles"},
		func(c *Config) *string { return &c.OrganizationID })
	// The sweep queue and its dead-letter queue are set by the stack to
	// the queues it creates, with the queue's maxReceiveCount.
	SweepQueueURL = text(Setting{Env: "SWEEP_QUEUE_URL", emptyIsValue: true,
		Usage: "SQS queue sweeps are queued on"},
		func(c *Config) *string { return &c.SweepQueueURL })
	SweepDeadLetterQueueURL = text(Setting{Env: "SWEEP_DEAD_LETTER_QUEUE_URL", emptyIsValue: true,
		Usage: "dead-letter queue of the sweep queue"},
		func(c *Config) *string { return &c.SweepDeadLetterQueueURL })
	SweepMaxReceiveCount = count(Setting{Env: "SWEEP_MAX_RECEIVE_COUNT", Default: "5",
		Usage: "the sweep queue's maxReceiveCount"},
		func(c *Config) *int { return &c.SweepMaxReceiveCount })
	// SelfRoleARN is set by the stack to the role it creates, never by an
	// operator.
	SelfRoleARN = text(Setting{Env: "SELF_ROLE_ARN", Usage: "the function's own role"},
		func(c *Config) *string { return &c.SelfRoleARN })
)

// Settings is the table: every setting once.
var Settings = []*Setting{ParameterName, CacheTTL, DryRun, Mode, Force, ExemptTag, ExemptRepositories,
	ReadTPS, WriteTPS, Concurrency, AllowedPrincipals, AllowPublic, ApplyToExisting, MemberAccounts, MemberOrganizationalUnits, MemberRegions, MemberRoleName, OrganizationID, ArchiveBucket, SweepQueueURL, SweepDeadLetterQueueURL, SweepMaxReceiveCount, SelfRoleARN}

// Defaults is the configuration with no setting given.
func Defaults() Config {
	cfg, _, err := Resolve()
	if err != nil {
		panic("envconfig: a default is invalid: " + err.Error()) // the table itself is wrong
	}
	return cfg
}

// Load reads the function's configuration through lookup (os.LookupEnv in
// main). The baseline parameter is required: the stack always sets it, so
// a function without it is misconfigured rather than meant to use the
// default.
func Load(lookup func(string) (string, bool)) (Config, error) {
	var problems []error
	if v, _ := lookup(ParameterName.Env); v == "" {
		problems = append(problems, fmt.Errorf("%s is required", ParameterName.Env))
	}
	cfg, _, err := Resolve(Environment(lookup))
	if err != nil {
		problems = append(problems, err)
	}
	if err := errors.Join(problems...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	// Lambda's own variable, not a setting.
	cfg.FunctionName, _ = lookup("AWS_LAMBDA_FUNCTION_NAME")
	return cfg, nil
}

// OrganizationMode reports whether the configuration makes an
// organisation's hub: member accounts listed, or organizational units
// whose accounts are members. The function and the construct both decide
// by it, so the hub's resources exist exactly when the function uses them.
func (c Config) OrganizationMode() bool {
	return len(c.MemberAccounts) > 0 || len(c.MemberOrganizationalUnits) > 0
}
