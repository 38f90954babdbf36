// Package handler turns a Lambda invocation into enforcement: it decides
// which payloads are events to enforce, which are skipped, and which are
// errors that Lambda's async retries and the dead-letter queue must keep.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/ssmevent"
)

// Enforcer enforces the baseline on one repository, and tells whether a
// policy the function's own role wrote holds the baseline it has.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
	Carries(ctx context.Context, repo ecrevent.Repository, policyText string) (bool, error)
}

var _ Enforcer = (*enforcer.Enforcer)(nil)

// Backfiller enforces the baseline on every repository in scope.
type Backfiller interface {
	Run(ctx context.Context, opts backfill.Options) (backfill.Summary, error)
}

// Baseline is the container's cached baseline. A parameter change
// invalidates it; a backfill loads it before touching any repository, at
// least as new as the version its run started with.
type Baseline interface {
	Invalidate()
	Load(ctx context.Context, minVersion int64) (int64, error)
}

// Continuer queues a payload for a fresh asynchronous invocation.
type Continuer interface {
	Continue(ctx context.Context, payload []byte) error
}

// Recorder records what one invocation did as metrics.
type Recorder interface {
	Emit(inv metrics.Invocation) error
}

var _ Recorder = (*metrics.Emitter)(nil)

// Entries, as recorded in metrics.
const (
	EntryEvent           = "event"
	EntryBackfill        = "backfill"
	EntryParameterChange = "parameter-change"
)

// Response is what the function returns to its invoker.
type Response struct {
	Results []enforcer.Result `json:"results,omitempty"`
	Summary *backfill.Summary `json:"summary,omitempty"`
}

// BackfillRequest is the payload of a manual invoke, e.g.
// {"action":"backfill","dryRun":true,"prefix":"team-a/"}. dryRun is
// required, so a test invoke from the console cannot write to the whole
// fleet by leaving it out. A run that could not finish before the
// function's deadline returns a nextToken; invoke again with it as
// continuationToken to resume. With selfContinue the function does that
// itself, carrying the baseline version the run started with and the
// repositories that failed, which the last invocation retries.
type BackfillRequest struct {
	Action            string `json:"action"`
	DryRun            *bool  `json:"dryRun"`
	Prefix            string `json:"prefix"`
	ContinuationToken string `json:"continuationToken,omitempty"`
	SelfContinue      bool   `json:"selfContinue,omitempty"`
	// BaselineVersion is the SSM parameter version the run started with;
	// a container whose cached baseline is older reloads it first.
	BaselineVersion int64 `json:"baselineVersion,omitempty"`
	// Failed names repositories earlier invocations of the run could not
	// enforce, at most MaxCarried; FailedUncarried counts those beyond.
	Failed          []string `json:"failed,omitempty"`
	FailedUncarried int      `json:"failedUncarried,omitempty"`
}

// MaxCarried caps the failed repositories a self-continued run carries, so
// the payload stays far below the 256 KB async invoke limit (256-character
// names). Failures beyond it are counted, not retried, and fail the run's
// last invocation.
const MaxCarried = 200

// ErrDryRunRequired is returned for a manual backfill without dryRun.
var ErrDryRunRequired = errors.New("dryRun is required: true to preview, false to apply")

// ActionBackfill is the BackfillRequest action.
const ActionBackfill = "backfill"

// Handler is the Lambda entry point.
type Handler struct {
	Enforcer Enforcer
	Backfill Backfiller
	Baseline Baseline
	Continue Continuer
	// ParameterName is the baseline parameter whose changes re-enforce
	// the fleet.
	ParameterName string
	// SelfRoleARN is the function's role; its own policy writes come back
	// as SetRepositoryPolicy events and are skipped when they hold this
	// container's baseline, so it never loops.
	SelfRoleARN string
	// AccountID and Region locate, by name, the repositories a run retries
	// at its end; without AccountID they cannot be retried and are
	// reported as failed.
	AccountID, Region string
	// StopBefore is how long before the invocation's deadline a backfill
	// stops starting repositories.
	StopBefore time.Duration
	// Reserve is cut from the invocation's deadline for all the work and
	// every AWS call in it, so a call that is still retrying fails while
	// there is time left to return the error, log it and emit metrics,
	// rather than Lambda ending the invocation as timed out.
	Reserve time.Duration
	// Metrics, when set, receives one record per invocation.
	Metrics Recorder
	Logger  *slog.Logger
}

// Handle dispatches a Parameter Store change, a manual backfill request or
// an ECR event, then records what the invocation did.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
	start := time.Now()
	if deadline, ok := ctx.Deadline(); ok && h.Reserve > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-h.Reserve))
		defer cancel()
	}
	entry, res, err := h.dispatch(ctx, payload)
	h.record(ctx, entry, res, err, time.Since(start))
	return res, err
}

func (h *Handler) dispatch(ctx context.Context, payload json.RawMessage) (string, Response, error) {
	var peek struct {
		Source string `json:"source"`
		Action string `json:"action"`
	}
	// A payload that is not a JSON object leaves peek empty and falls to
	// h.event, whose parser rejects it with the parse error.
	_ = json.Unmarshal(payload, &peek)
	switch {
	case peek.Source == ssmevent.Source:
		res, err := h.parameterChange(ctx, payload)
		return EntryParameterChange, res, err
	case peek.Action != "":
		var req BackfillRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return EntryBackfill, Response{}, fmt.Errorf("backfill request: %w", err)
		}
		res, err := h.backfill(ctx, req)
		return EntryBackfill, res, err
	}
	res, err := h.event(ctx, payload)
	return EntryEvent, res, err
}

// record counts the repositories by outcome, and an invocation error as
// one more failure: the event behind it went back to Lambda's retries.
func (h *Handler) record(ctx context.Context, entry string, res Response, err error, d time.Duration) {
	if h.Metrics == nil {
		return
	}
	inv := metrics.Invocation{Entry: entry, Duration: d}
	if s := res.Summary; s != nil {
		inv.Applied, inv.WouldApply, inv.Unchanged = s.Applied, s.WouldApply, s.Unchanged
		inv.Skipped, inv.Exempt, inv.Failed = s.Skipped, s.Exempt, s.Failed
	}
	for _, r := range res.Results {
		switch r.Action {
		case enforcer.Applied:
			inv.Applied++
		case enforcer.WouldApply:
			inv.WouldApply++
		case enforcer.Unchanged:
			inv.Unchanged++
		case enforcer.Exempt:
			inv.Exempt++
		case enforcer.ActionError:
			inv.Failed++
		default:
			inv.Skipped++
		}
	}
	if err != nil {
		inv.Failed++
	}
	if err := h.Metrics.Emit(inv); err != nil {
		h.Logger.WarnContext(ctx, "metrics not emitted", "error", err)
	}
}

func (h *Handler) backfill(ctx context.Context, req BackfillRequest) (Response, error) {
	if req.Action != ActionBackfill {
		h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.ActionError, "reason", "unknown action "+req.Action)
		return Response{}, fmt.Errorf("unknown action %q: the manual invoke payload supports %q", req.Action, ActionBackfill)
	}
	if req.DryRun == nil {
		h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.ActionError, "reason", ErrDryRunRequired.Error())
		return Response{}, ErrDryRunRequired
	}
	// Loaded once before any repository: a baseline that cannot be read or
	// is invalid fails the run here, rather than once per repository with
	// a GetParameter each (failures are not cached).
	version, err := h.Baseline.Load(ctx, req.BaselineVersion)
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.ActionError, "error", err)
		return Response{}, fmt.Errorf("backfill: nothing enforced: %w", err)
	}
	// The context's deadline is already Reserve early, so the run stops
	// StopBefore before the invocation's own deadline, as documented.
	sum, err := h.Backfill.Run(ctx, backfill.Options{
		Prefix: req.Prefix, DryRun: *req.DryRun, Token: req.ContinuationToken, StopBefore: max(h.StopBefore-h.Reserve, 0),
	})
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.ActionError, "error", err)
		return Response{}, err
	}
	h.Logger.InfoContext(ctx, "backfill summary", "prefix", req.Prefix, "dry_run", *req.DryRun, "baseline_version", version,
		"scanned", sum.Scanned, "applied", sum.Applied, "would_apply", sum.WouldApply, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "exempt", sum.Exempt, "failed", sum.Failed, "complete", sum.Complete, "next_token", sum.NextToken)
	if !req.SelfContinue {
		return Response{Summary: &sum}, nil
	}
	if sum.Complete {
		return h.finish(ctx, req, sum)
	}
	next := req
	next.ContinuationToken, next.BaselineVersion = sum.NextToken, version
	next.Failed, next.FailedUncarried = carry(req.Failed, req.FailedUncarried, sum.Failures)
	payload, err := json.Marshal(next)
	if err == nil {
		err = h.Continue.Continue(ctx, payload)
	}
	if err != nil {
		// Failing the invocation lets Lambda retry it from the same
		// token; the repositories done so far are unchanged on retry.
		return Response{Summary: &sum}, fmt.Errorf("backfill stopped at its deadline and could not continue: %w", err)
	}
	return Response{Summary: &sum}, nil
}

// carry adds this invocation's failures to those carried so far, up to
// MaxCarried names, and counts the rest.
func carry(carried []string, uncarried int, failures []backfill.Failure) ([]string, int) {
	out := slices.Clone(carried)
	for _, f := range failures {
		switch {
		case slices.Contains(out, f.Repository):
		case len(out) < MaxCarried:
			out = append(out, f.Repository)
		default:
			uncarried++
		}
	}
	return out, uncarried
}

// finish ends a self-continued run: it enforces once more the repositories
// earlier invocations failed, and returns an error naming every one still
// failed, this invocation's too. Lambda's async retries then re-run this
// payload: its token is at the last page, so a retry completes again and
// queues no new chain; after them the on-failure destination keeps it.
func (h *Handler) finish(ctx context.Context, req BackfillRequest, sum backfill.Summary) (Response, error) {
	res := Response{Summary: &sum}
	var still []string
	for _, name := range req.Failed {
		if *req.DryRun || h.AccountID == "" {
			// A dry run changes nothing a retry could fix, and without the
			// account the repository cannot be located by name.
			still = append(still, name)
			continue
		}
		repo := ecrevent.Repository{RegistryID: h.AccountID, Region: h.Region, Name: name,
			ARN: ecrevent.RepositoryARN(h.Region, h.AccountID, name)}
		r, err := h.Enforcer.Enforce(ctx, repo)
		res.Results = append(res.Results, r)
		if err != nil {
			still = append(still, name)
		}
	}
	for _, f := range sum.Failures {
		if !slices.Contains(still, f.Repository) {
			still = append(still, f.Repository)
		}
	}
	if len(still) == 0 && req.FailedUncarried == 0 {
		return res, nil
	}
	h.Logger.ErrorContext(ctx, "backfill ended with failures", "action", enforcer.ActionError,
		"repositories", still, "failed_uncarried", req.FailedUncarried)
	var problems []string
	if len(still) > 0 {
		problems = append(problems, fmt.Sprintf("%d repositories still fail: %s", len(still), strings.Join(still, ", ")))
	}
	if req.FailedUncarried > 0 {
		problems = append(problems, fmt.Sprintf("%d failed in earlier invocations beyond the %d carried and were not retried (see their logs)", req.FailedUncarried, MaxCarried))
	}
	return res, fmt.Errorf("backfill complete but %s", strings.Join(problems, "; "))
}

// parameterChange re-enforces the whole fleet with the new baseline,
// dropping the cached one first so this very invocation uses it; the
// version it reads travels with the run's continuations.
func (h *Handler) parameterChange(ctx context.Context, payload json.RawMessage) (Response, error) {
	ch, err := ssmevent.Parse(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.ActionError, "error", err)
		return Response{}, err
	}
	log := h.Logger.With("event_id", ch.ID, "parameter", ch.Name, "operation", ch.Operation)
	if ch.Name != h.ParameterName {
		log.InfoContext(ctx, "skipped event", "action", enforcer.Skipped, "reason", "not the baseline parameter "+h.ParameterName)
		return Response{}, nil
	}
	if ch.Operation == "Delete" {
		log.ErrorContext(ctx, "baseline deleted", "action", enforcer.ActionError, "reason", "repositories keep their policies; new ones will fail until the parameter exists again")
		return Response{}, fmt.Errorf("baseline parameter %s was deleted", ch.Name)
	}
	h.Baseline.Invalidate()
	log.InfoContext(ctx, "baseline changed: re-enforcing every repository", "action", "backfill")
	apply := false
	return h.backfill(ctx, BackfillRequest{Action: ActionBackfill, DryRun: &apply, SelfContinue: true})
}

// event enforces the baseline on the repository an event names.
//
// A malformed or foreign event and every enforcement error are returned as
// errors: the invocation fails, Lambda retries it, and the event ends in the
// dead-letter queue rather than being dropped. A call that failed (errorCode
// set) changed nothing, and a policy write by this function's own role that
// holds this container's baseline is its own work coming back: both are
// skipped with a reason.
func (h *Handler) event(ctx context.Context, payload json.RawMessage) (Response, error) {
	ev, err := ecrevent.Parse(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.ActionError, "error", err)
		return Response{}, fmt.Errorf("parse event: %w", err)
	}
	reason, err := h.skip(ctx, ev)
	if err != nil {
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if reason != "" {
		res := enforcer.Result{Repository: ev.Repository.Name, Action: enforcer.Skipped, Reason: reason}
		h.Logger.InfoContext(ctx, "skipped event", "event_id", ev.ID, "event_name", ev.EventName, "repository", res.Repository, "action", res.Action, "reason", res.Reason)
		return Response{Results: []enforcer.Result{res}}, nil
	}
	res, err := h.Enforcer.Enforce(ctx, ev.Repository)
	if err != nil {
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return Response{Results: []enforcer.Result{res}}, nil
}

// skip returns why an event needs no enforcement, or "" when it does.
//
// An own write that lacks this container's baseline means one of two
// containers holds a stale one: the cache is dropped and the repository
// enforced, so after the reload both agree and the next own write is
// skipped. A stale container that sees only its own stale writes keeps
// them until its cache expires (BASELINE_CACHE_TTL).
func (h *Handler) skip(ctx context.Context, ev ecrevent.Event) (string, error) {
	switch {
	case ev.FailedCall != "":
		return fmt.Sprintf("%s call failed with %s", ev.EventName, ev.FailedCall), nil
	case h.SelfRoleARN == "" || ev.Actor != h.SelfRoleARN:
		return "", nil
	case ev.EventName != ecrevent.EventSetRepoPolicy:
		return fmt.Sprintf("%s made by ecr-baseline itself", ev.EventName), nil
	}
	carries, err := h.Enforcer.Carries(ctx, ev.Repository, ev.PolicyText)
	if err != nil {
		return "", err
	}
	if carries {
		return fmt.Sprintf("%s made by ecr-baseline itself", ev.EventName), nil
	}
	h.Baseline.Invalidate()
	h.Logger.WarnContext(ctx, "own write lacks this container's baseline: reloading it and enforcing", "event_id", ev.ID,
		"repository", ev.Repository.Name, "reason", "a container held a stale baseline")
	return "", nil
}
