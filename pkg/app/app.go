// Package app wires the enforcer, backfill and handler from one
// configuration, so the Lambda and the local CLI run the same engine.
package app

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/baseline"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/ratelimit"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// StopBefore is how long before a Lambda deadline a sweep batch stops
// starting items: one enforcement, SDK retries included, fits well inside
// it.
const StopBefore = 30 * time.Second

// Reserve is how long before a Lambda deadline every AWS call is cut off:
// time enough to return the error, log it and emit metrics.
const Reserve = 2 * time.Second

// ownWriteMaxAge is how old the cached baseline may be when the function
// judges one of its own policy writes. After a baseline change, a warm
// container can write the previous baseline until its cache expires;
// judged against a baseline this fresh, such a write is enforced again
// rather than passed as the function's own. It costs a warm container at
// most one GetParameter per 10 s, and only while its own writes arrive.
const ownWriteMaxAge = 10 * time.Second

// app is everything built from one configuration.
type app struct {
	Backfill *backfill.Runner
	Handler  *handler.Handler
	// Baseline is loaded once before a CLI backfill, as the handler does.
	Baseline *baseline.Loader
	// Enforcer is the live enforcer; a restore asks it which repositories
	// are exempt.
	Enforcer *enforcer.Enforcer
	// Archive is where writes are archived; nil without a bucket.
	Archive *archive.Archive
}

// Option changes what New builds.
type Option func(*options)

type options struct {
	templates baseline.ParameterGetter
	source    string
	// account replaces the account of cfg.SelfRoleARN and caller writes
	// beside the function (WithCaller); unknown says who writes is not
	// known (WithCallerUnknown).
	account, caller string
	unknown         bool
}

// WithPolicyFile reads the baseline template from a local file instead of
// the SSM parameter, checked the same way: the CLI's preview of a template
// before it is stored.
func WithPolicyFile(path string) Option {
	return func(o *options) { o.templates, o.source = baseline.File{}, path }
}

// WithCaller names who writes when it is not the function: the local CLI
// writes with its caller's credentials (account and arn as STS
// GetCallerIdentity gives them), in the caller's account. The guardrails
// take that account as the account's own and judge a Deny against the
// function's role (SELF_ROLE_ARN, which --function gives; without it any
// principal of the account may be the function) and, when arn is a role
// session (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION), against the
// caller's role too: neither may be locked out, since the function keeps
// enforcing after the CLI wrote.
func WithCaller(account, arn string) Option {
	return func(o *options) {
		o.account, o.caller, o.unknown = account, "", false
		if strings.Contains(arn, ":assumed-role/") {
			o.caller = arn
		}
	}
}

// WithCallerUnknown is WithCaller when STS could not say who writes: the
// guardrails then know neither the account nor whose access a Deny could
// take, even with the function's role known, and judge as the zero Guard
// does, strictest.
func WithCallerUnknown() Option {
	return func(o *options) { o.account, o.caller, o.unknown = "", "", true }
}

// New builds the engine. One ECR client per registry is shared by event
// handling and backfill, so every worker of a container is paced by the
// same adaptive limiters (newECR) and held to the same ceilings.
func New(cfg envconfig.Config, awsCfg aws.Config, logger *slog.Logger, opts ...Option) *app {
	o := options{source: cfg.ParameterName, account: accountOf(cfg.SelfRoleARN)}
	for _, opt := range opts {
		opt(&o)
	}
	account, selfRole := o.account, cfg.SelfRoleARN
	if o.unknown {
		selfRole = ""
	}
	if o.templates == nil {
		o.templates = ssm.NewFromConfig(awsCfg)
	}
	client := newECR(awsCfg, cfg)
	mode := enforcer.Mode(cfg.Mode)
	var checks []func(string) error
	if mode == enforcer.Merge {
		checks = append(checks, policy.RequireSids)
	}
	guard := policy.Guard{AccountID: account, Region: awsCfg.Region, Regions: cfg.MemberRegions, SelfRoleARN: selfRole, CallerARN: o.caller, Force: cfg.Force,
		AllowedPrincipals: cfg.AllowedPrincipals, AllowPublic: cfg.AllowPublic}
	if cfg.OrganizationMode() {
		// A member sees the baseline rendered for itself, written by the
		// member role: grants to the hub's account are outside it, and a
		// Deny that spares only the hub's role locks the member role out.
		// Checked at load too, so such a baseline fails with nothing
		// queued rather than at every member repository.
		checks = append(checks, func(text string) error {
			return guard.CheckAsMember(text, partitionOf(cfg.SelfRoleARN), cfg.MemberRoleName)
		})
	}
	loader := baseline.NewLoader(o.templates, o.source, cfg.CacheTTL, guard, checks...)
	var store *archive.Archive
	// A nil interface, not a nil *archive.Archive, when there is no bucket:
	// the enforcer tests Archive against nil.
	var archiver enforcer.Archive
	if cfg.ArchiveBucket != "" {
		store = &archive.Archive{S3: s3.NewFromConfig(awsCfg), Bucket: cfg.ArchiveBucket}
		archiver = store
	}
	// enforcerFor is the enforcer of one registry: the function's own, or
	// a member's, reached with the member role (its own writes there), or
	// with the function's own role in the hub account's other regions.
	enforcerFor := func(ecrClient enforcer.ECR, account, region, selfRole string, dryRun bool) *enforcer.Enforcer {
		return &enforcer.Enforcer{
			ECR: ecrClient, Baseline: loader, Mode: mode, Force: cfg.Force, DryRun: dryRun, Logger: logger,
			Region: region, AccountID: account, SelfRoleARN: selfRole, Archive: archiver,
			Exempt: enforcer.Exemptions{TagKey: cfg.ExemptTagKey, TagValue: cfg.ExemptTagValue, Globs: cfg.ExemptGlobs},
		}
	}
	live := enforcerFor(client, account, awsCfg.Region, selfRole, cfg.DryRun)
	dry := enforcerFor(client, account, awsCfg.Region, selfRole, true)
	// The CLI's caller writes with the hub's own enforcers; a merge must
	// not lock it out either.
	live.CallerARN, dry.CallerARN = o.caller, o.caller
	runner := &backfill.Runner{
		ECR: client, Enforcer: live, DryRunEnforcer: dry,
		Region: awsCfg.Region, Concurrency: cfg.Concurrency,
	}
	queues := sqs.NewFromConfig(awsCfg)
	var deadLetter handler.DeadLetter
	if cfg.SweepDeadLetterQueueURL != "" {
		deadLetter = sweep.DeadLetter{SQS: queues, URL: cfg.SweepDeadLetterQueueURL}
	}
	h := &handler.Handler{
		Enforcer: live, DryRunEnforcer: dry, Baseline: loader, Lister: client,
		Queue:      sweep.Queue{SQS: queues, URL: cfg.SweepQueueURL},
		DeadLetter: deadLetter, MaxReceiveCount: cfg.SweepMaxReceiveCount,
		ParameterName: cfg.ParameterName, ApplyToExisting: cfg.ApplyToExisting, ExemptTagKey: cfg.ExemptTagKey, ExemptTagValue: cfg.ExemptTagValue, SelfRoleARN: cfg.SelfRoleARN, AccountID: account, Region: awsCfg.Region,
		Concurrency: cfg.Concurrency, OwnWriteMaxAge: ownWriteMaxAge,
		StopBefore: StopBefore, Reserve: Reserve, Logger: logger,
	}
	if cfg.OrganizationMode() {
		h.Members = newMembers(cfg, awsCfg, account, logger, func(memberCfg aws.Config, account, region, role string) handler.Registry {
			c := newECR(memberCfg, cfg)
			return handler.Registry{Enforcer: enforcerFor(c, account, region, role, cfg.DryRun),
				DryRunEnforcer: enforcerFor(c, account, region, role, true), Lister: c, OwnRoleARN: role}
		})
	}
	return &app{
		Backfill: runner,
		Baseline: loader,
		Enforcer: live,
		Archive:  store,
		Handler:  h,
	}
}

// newECR is the ECR client of one registry (one account and region),
// under the ceilings. Its retry policy paces every attempt adaptively, per
// client and operation (awsconfig.Paced): one client per registry, shared
// by every worker, is one pace per quota. The policy is made here rather
// than inside the SDK so that a merge's write reservation can take its
// attempt token too; a policy that does not pace (a test's plain
// retryer) reserves the ceiling's token only. awsconfig.Load always sets
// awsCfg.Retryer.
func newECR(awsCfg aws.Config, cfg envconfig.Config) *ratelimit.ECR {
	retryer := awsCfg.Retryer()
	client := ratelimit.New(ecr.NewFromConfig(awsCfg, func(o *ecr.Options) { o.Retryer = retryer }), cfg.ReadTPS, cfg.WriteTPS)
	client.Attempts, _ = retryer.(ratelimit.AttemptReserver)
	return client
}

// ErrNoArchive refuses a function that would write with no archive
// bucket: its first write would replace a policy kept nowhere.
var ErrNoArchive = errors.New("ARCHIVE_BUCKET is empty: a function that writes archives every policy before replacing it (the stack sets ARCHIVE_BUCKET; set DRY_RUN=true to run without writing)")

// CheckFunction refuses a Lambda configuration that would write without an
// archive. The CLI has its own rule (--no-archive), so it is not in New.
func CheckFunction(cfg envconfig.Config) error {
	if !cfg.DryRun && cfg.ArchiveBucket == "" {
		return ErrNoArchive
	}
	return nil
}

// accountOf returns the account of an IAM role ARN
// (arn:aws:iam::123456789012:role/name), or "" when arn is not one: then
// the function does not know its account, and only the region of an event
// is checked.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || len(parts[4]) != 12 {
		return ""
	}
	return parts[4]
}
