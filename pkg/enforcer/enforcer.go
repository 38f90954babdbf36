// Package enforcer brings one repository's policy in line with the baseline.
package enforcer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
)

// ECR is the part of the ECR API the enforcer calls.
type ECR interface {
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
	// ListTagsForResource is called only when a tag exempts repositories.
	ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, opts ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
}

// writeReserver is a paced client that can take a write token before the
// read (ratelimit.ECR).
type writeReserver interface {
	ReserveWrite(ctx context.Context) (context.Context, func(), error)
}

// ErrElsewhere marks a repository outside the function's region or account:
// its ECR client cannot reach it, so it would look deleted.
var ErrElsewhere = errors.New("repository is outside this function's region or account")

// Baseline supplies the baseline policy template and the SSM parameter
// version it was read at, which every archived write names.
type Baseline interface {
	Template(ctx context.Context) (text string, version int64, err error)
}

// Archive keeps the policy a write replaces, before the write.
type Archive interface {
	Put(ctx context.Context, rec archive.Record) (archive.Record, error)
}

var _ Archive = (*archive.Archive)(nil)

// triggerKey carries what caused an enforcement. It is a context value,
// not a field of ecrevent.Repository, because it belongs to the call (one
// event, one run) rather than to the repository, and every caller keeps
// calling Enforce(ctx, repo) unchanged.
type triggerKey struct{}

// WithTrigger names what causes the enforcements made with ctx:
// "event:<event id>" for an event, "sweep:<id>" for a sweep's item,
// "run:<id>" for a CLI run. It is stored in each archived record and
// logged with each result.
func WithTrigger(ctx context.Context, trigger string) context.Context {
	return context.WithValue(ctx, triggerKey{}, trigger)
}

// unknownTrigger names a write whose caller set no trigger: the archive
// refuses a record without one, and refusing the write for it would make
// a missing label a failure.
const unknownTrigger = "unknown"

// Trigger is what WithTrigger set on ctx, or "unknown".
func Trigger(ctx context.Context) string {
	if t, ok := ctx.Value(triggerKey{}).(string); ok && t != "" {
		return t
	}
	return unknownTrigger
}

// Action is what enforcement did to a repository.
type Action string

// Actions, as logged under the "action" key.
const (
	Applied    Action = "applied"
	WouldApply Action = "would-apply"
	Unchanged  Action = "unchanged"
	Skipped    Action = "skipped"
	Exempt     Action = "exempt"
	Failed     Action = "failed"
)

// Mode is how the baseline combines with a repository's own policy.
type Mode string

// Modes.
const (
	// Replace makes the repository policy exactly the rendered baseline.
	Replace Mode = "replace"
	// Merge adds the baseline's statements, keyed by Sid, and keeps the
	// repository's other statements.
	Merge Mode = "merge"
)

// Exemptions name repositories the enforcer leaves alone.
type Exemptions struct {
	// TagKey and TagValue exempt a repository carrying that tag; an empty
	// TagKey turns tag exemption off and saves one call per repository.
	TagKey, TagValue string
	// Globs exempt repositories whose name matches one (path.Match syntax:
	// "*" does not cross "/").
	Globs []string
}

// Result is the outcome for one repository.
type Result struct {
	Repository string `json:"repository"`
	Action     Action `json:"action"`
	Reason     string `json:"reason,omitempty"`
	// Archive is the key of the record kept before an Applied write.
	Archive string `json:"archive,omitempty"`
	// Diff is what an Applied or WouldApply write changes.
	Diff policydiff.Diff `json:"diff,omitzero"`
}

// Enforcer applies the baseline with the fewest calls: one read, and a write
// only when the stored policy differs from the rendered baseline.
type Enforcer struct {
	ECR      ECR
	Baseline Baseline
	// Mode defaults to Replace.
	Mode   Mode
	Exempt Exemptions
	// Force applies a baseline that would lock the account out of setting
	// policies again; it is passed to SetRepositoryPolicy as force. Without
	// it such a baseline is refused.
	Force bool
	// DryRun reports what would change and writes nothing.
	DryRun bool
	// Region and AccountID are where the ECR client reaches: a repository
	// elsewhere is refused with ErrElsewhere, never read as deleted. An
	// empty value is not checked.
	Region, AccountID string
	// SelfRoleARN is the function's own role: the lock-out guard refuses a
	// Deny that could reach it and lets a Deny on another role through.
	// Empty, every role of the account is taken to be it.
	SelfRoleARN string
	// CallerARN is who writes beside the function (the local CLI's caller,
	// a role session): a merged policy must not lock it out either.
	CallerARN string
	// Archive keeps each policy before it is replaced; a failed Put fails
	// the repository, unwritten. Nil writes without archiving (the CLI's
	// --no-archive); app.New requires it for a function that writes.
	Archive Archive
	Logger  *slog.Logger
}

// Enforce brings repo in line with the baseline. A repository that no longer
// exists is skipped, not an error. A failure comes back twice, for two
// uses: as the Result, with Action Failed and the error's text as Reason,
// which is what callers count and list; and as the error, which callers
// branch on and never count. Errors wrap their cause, so callers can tell
// a bad baseline (policy.ErrInvalid) from an AWS failure.
func (e *Enforcer) Enforce(ctx context.Context, repo ecrevent.Repository) (Result, error) {
	return e.EnforceAfterWrite(ctx, repo, "")
}

// EnforceAfterWrite is Enforce for a foreign SetRepositoryPolicy event
// whose call set written: in merge mode, a statement of written that the
// repository no longer holds is put back (see decide).
func (e *Enforcer) EnforceAfterWrite(ctx context.Context, repo ecrevent.Repository, written string) (Result, error) {
	res, err := e.enforce(ctx, repo, written)
	if isRepoNotFound(err) {
		res, err = Result{Repository: repo.Name, Action: Skipped, Reason: "repository not found (deleted before enforcement)"}, nil
	}
	// The trigger ("event:<id>", "sweep:<id>", ...) lets a Logs Insights
	// query sum one sweep's results.
	log := e.logger().With("repository", repo.Name, "registry_id", repo.RegistryID, "trigger", Trigger(ctx))
	if err != nil {
		res = Result{Repository: repo.Name, Action: Failed, Reason: err.Error()}
		log.ErrorContext(ctx, "enforce failed", "action", res.Action, "error", err)
		return res, fmt.Errorf("enforce %s: %w", repo.Name, err)
	}
	log.InfoContext(ctx, "enforced", "action", res.Action, "reason", res.Reason, "mode", e.mode(), "dry_run", e.DryRun,
		"archive", res.Archive, "diff", res.Diff.String())
	return res, nil
}

// enforce is exempt, render, read, decide, write. Every ECR error is
// wrapped, so Enforce finds a repository deleted meanwhile at any step.
func (e *Enforcer) enforce(ctx context.Context, repo ecrevent.Repository, written string) (Result, error) {
	res := Result{Repository: repo.Name}
	if err := e.reachable(repo); err != nil {
		return res, err
	}
	reason, err := e.exempt(ctx, repo.Name, repoARN(repo))
	if err != nil {
		return res, err
	}
	if reason != "" {
		res.Action, res.Reason = Exempt, reason
		return res, nil
	}
	rendered, renderedDoc, version, err := e.render(ctx, repo)
	if err != nil {
		return res, err
	}
	// A baseline that locks the account out is refused before any read,
	// whatever the repository holds.
	if !e.Force {
		if err := e.guard(repo).CheckLockOut(renderedDoc); err != nil {
			return res, fmt.Errorf("rendered baseline: %w", err)
		}
	}
	// In merge mode the write token is taken before the read, so read,
	// decide and write happen back to back: a team's SetRepositoryPolicy
	// landing while this waited for a token between read and write would be
	// overwritten and its statements lost. Replace mode overwrites the
	// team's statements anyway, so it does not pay the cost: with several
	// workers an unspent token often cannot be given back (another
	// reservation came after it), which paces a run over compliant
	// repositories at the write rate.
	if wr, ok := e.ECR.(writeReserver); ok && !e.DryRun && e.mode() == Merge {
		var release func()
		if ctx, release, err = wr.ReserveWrite(ctx); err != nil {
			return res, err
		}
		defer release()
	}
	current, err := e.current(ctx, repo)
	if err != nil {
		return res, err
	}
	d, err := decide(current, written, rendered, e.mode(), e.guard(repo), e.DryRun)
	if err != nil {
		return res, err
	}
	res.Action, res.Reason, res.Diff = d.Action, d.Reason, d.Diff
	if d.Action != Applied {
		return res, nil
	}
	return e.write(ctx, repo, res, current, d.Policy, version)
}

// write archives the policy repo holds, then writes text over it. Nothing
// is written unless the archive kept the previous policy.
func (e *Enforcer) write(ctx context.Context, repo ecrevent.Repository, res Result, current, text string, version int64) (Result, error) {
	if e.Archive != nil {
		rec, err := e.Archive.Put(ctx, archive.Record{
			AccountID: e.accountOf(repo), Region: repo.Region, Repository: repo.Name,
			Previous: optional(current), New: aws.String(text),
			BaselineVersion: version, Trigger: Trigger(ctx), Mode: string(e.mode()),
		})
		if err != nil {
			return res, fmt.Errorf("archive: %w", err)
		}
		res.Archive = rec.Key
	}
	if _, err := e.ECR.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{
		RegistryId: optional(repo.RegistryID), RepositoryName: aws.String(repo.Name),
		PolicyText: aws.String(text), Force: e.Force,
	}); err != nil {
		return res, fmt.Errorf("set policy: %w", err)
	}
	return res, nil
}

// current returns the policy repo holds, "" when it has none.
func (e *Enforcer) current(ctx context.Context, repo ecrevent.Repository) (string, error) {
	out, err := e.ECR.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{
		RegistryId: optional(repo.RegistryID), RepositoryName: aws.String(repo.Name),
	})
	var noPolicy *types.RepositoryPolicyNotFoundException
	switch {
	case errors.As(err, &noPolicy):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("get policy: %w", err)
	}
	return aws.ToString(out.PolicyText), nil
}

// Carries reports whether policyText, a policy this function's own role
// wrote to repo, holds the baseline this container has: all of it in
// replace mode (policy.Equal), each of its statements in merge mode
// (policy.Contains). When it does, the write needs no check. When it does
// not, the container that wrote it or this one holds a stale baseline.
// It uses the baseline as cached (SSM is read only when the cache has
// expired) and calls no ECR API.
func (e *Enforcer) Carries(ctx context.Context, repo ecrevent.Repository, policyText string) (bool, error) {
	_, renderedDoc, _, err := e.render(ctx, repo)
	if err != nil {
		return false, fmt.Errorf("check own write to %s: %w", repo.Name, err)
	}
	written, err := policy.Parse(policyText)
	if err != nil {
		return false, nil
	}
	if e.mode() == Merge {
		return policy.Contains(written, renderedDoc), nil
	}
	return policy.Equal(written, renderedDoc), nil
}

// render returns the baseline rendered and validated for repo, and the
// parameter version it came from.
func (e *Enforcer) render(ctx context.Context, repo ecrevent.Repository) (string, *policy.Document, int64, error) {
	tmpl, version, err := e.Baseline.Template(ctx)
	if err != nil {
		return "", nil, 0, err
	}
	rendered, err := policy.Render(tmpl, policy.Vars{
		AccountID: repo.RegistryID, Region: repo.Region, RepositoryName: repo.Name, RepositoryARN: repoARN(repo),
	})
	if err != nil {
		return "", nil, 0, err
	}
	doc, err := policy.Validate(rendered)
	if err != nil {
		return "", nil, 0, fmt.Errorf("rendered baseline: %w", err)
	}
	return rendered, doc, version, nil
}

// reachable refuses a repository the ECR client cannot reach: asked there,
// ECR would answer RepositoryNotFound and the event would be skipped as if
// the repository were deleted.
func (e *Enforcer) reachable(repo ecrevent.Repository) error {
	if e.Region != "" && repo.Region != e.Region {
		return fmt.Errorf("%w: it is in region %s, this function enforces %s (deploy ecr-baseline there)", ErrElsewhere, repo.Region, e.Region)
	}
	if e.AccountID != "" && repo.RegistryID != "" && repo.RegistryID != e.AccountID {
		return fmt.Errorf("%w: it is in account %s, this function enforces %s (deploy ecr-baseline there)", ErrElsewhere, repo.RegistryID, e.AccountID)
	}
	return nil
}

// accountOf is the account an archived record names: the repository's
// registry, or the function's own account for an event that named none.
func (e *Enforcer) accountOf(repo ecrevent.Repository) string {
	if repo.RegistryID != "" {
		return repo.RegistryID
	}
	return e.AccountID
}

func repoARN(repo ecrevent.Repository) string {
	if repo.ARN != "" {
		return repo.ARN
	}
	return ecrevent.RepositoryARN(repo.Region, repo.RegistryID, repo.Name)
}

// IsExempt reports whether the enforcer leaves repo alone, by name or tag, as
// Enforce decides it: restore puts back a non-baseline policy only where
// enforcement will not replace it at once.
func (e *Enforcer) IsExempt(ctx context.Context, repo ecrevent.Repository) (bool, error) {
	reason, err := e.exempt(ctx, repo.Name, repoARN(repo))
	return reason != "", err
}

// exempt returns why a repository is exempt, or "" when it is not.
func (e *Enforcer) exempt(ctx context.Context, name, arn string) (string, error) {
	for _, g := range e.Exempt.Globs {
		// A malformed pattern fails every repository rather than silently
		// exempting none.
		ok, err := path.Match(g, name)
		if err != nil {
			return "", fmt.Errorf("exemption pattern %q: %w", g, err)
		}
		if ok {
			return fmt.Sprintf("name matches exemption pattern %q", g), nil
		}
	}
	if e.Exempt.TagKey == "" {
		return "", nil
	}
	out, err := e.ECR.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("list tags: %w", err)
	}
	for _, t := range out.Tags {
		if aws.ToString(t.Key) == e.Exempt.TagKey && aws.ToString(t.Value) == e.Exempt.TagValue {
			return fmt.Sprintf("tagged %s=%s", e.Exempt.TagKey, e.Exempt.TagValue), nil
		}
	}
	return "", nil
}

// guard is what the lock-out guard knows of this function's calls to
// repo: they go to repo's own registry and region, which the baseline was
// rendered for.
func (e *Enforcer) guard(repo ecrevent.Repository) policy.Guard {
	return policy.Guard{AccountID: cmp.Or(e.AccountID, repo.RegistryID), Region: repo.Region,
		SelfRoleARN: e.SelfRoleARN, CallerARN: e.CallerARN, Force: e.Force}
}

func (e *Enforcer) mode() Mode {
	if e.Mode == "" {
		return Replace
	}
	return e.Mode
}

func (e *Enforcer) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

func isRepoNotFound(err error) bool {
	var nf *types.RepositoryNotFoundException
	return errors.As(err, &nf)
}

// optional leaves an unknown registry out of a call, so ECR uses the
// caller's own.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
