// Package handler turns a Lambda invocation into enforcement: it decides
// which payloads are events to enforce, which are skipped, and which are
// errors that Lambda's async retries and the dead-letter queue must keep.
package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/ssmevent"
)

// Enforcer enforces the baseline on one repository.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
}

// Backfiller enforces the baseline on every repository in scope.
type Backfiller interface {
	Run(ctx context.Context, opts backfill.Options) (backfill.Summary, error)
}

// Baseline is the cached baseline, which a parameter change invalidates.
type Baseline interface {
	Invalidate()
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
// {"action":"backfill","dryRun":true,"prefix":"team-a/"}. A run that could
// not finish before the function's deadline returns a nextToken; invoke
// again with it as continuationToken to resume. With selfContinue the
// function does that itself.
type BackfillRequest struct {
	Action            string `json:"action"`
	DryRun            bool   `json:"dryRun"`
	Prefix            string `json:"prefix"`
	ContinuationToken string `json:"continuationToken,omitempty"`
	SelfContinue      bool   `json:"selfContinue,omitempty"`
}

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
	// as SetRepositoryPolicy events and are skipped, so it never loops.
	SelfRoleARN string
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
	// The context's deadline is already Reserve early, so the run stops
	// StopBefore before the invocation's own deadline, as documented.
	sum, err := h.Backfill.Run(ctx, backfill.Options{
		Prefix: req.Prefix, DryRun: req.DryRun, Token: req.ContinuationToken, StopBefore: max(h.StopBefore-h.Reserve, 0),
	})
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.ActionError, "error", err)
		return Response{}, err
	}
	h.Logger.InfoContext(ctx, "backfill summary", "prefix", req.Prefix, "dry_run", req.DryRun,
		"scanned", sum.Scanned, "applied", sum.Applied, "would_apply", sum.WouldApply, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "exempt", sum.Exempt, "failed", sum.Failed, "complete", sum.Complete, "next_token", sum.NextToken)
	if req.SelfContinue && !sum.Complete {
		next := req
		next.ContinuationToken = sum.NextToken
		payload, _ := json.Marshal(next)
		if err := h.Continue.Continue(ctx, payload); err != nil {
			// Failing the invocation lets Lambda retry it from the same
			// token; the repositories done so far are unchanged on retry.
			return Response{Summary: &sum}, fmt.Errorf("backfill stopped at its deadline and could not continue: %w", err)
		}
	}
	return Response{Summary: &sum}, nil
}

// parameterChange re-enforces the whole fleet with the new baseline,
// dropping the cached one first so this very invocation uses it.
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
	return h.backfill(ctx, BackfillRequest{Action: ActionBackfill, SelfContinue: true})
}

// event enforces the baseline on the repository an event names.
//
// A malformed or foreign event and every enforcement error are returned as
// errors: the invocation fails, Lambda retries it, and the event ends in the
// dead-letter queue rather than being dropped. A call that failed (errorCode
// set) changed nothing, and a policy write by this function's own role is
// its own work coming back: both are skipped with a reason.
func (h *Handler) event(ctx context.Context, payload json.RawMessage) (Response, error) {
	ev, err := ecrevent.Parse(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.ActionError, "error", err)
		return Response{}, fmt.Errorf("parse event: %w", err)
	}
	reason := ""
	switch {
	case ev.FailedCall != "":
		reason = fmt.Sprintf("%s call failed with %s", ev.EventName, ev.FailedCall)
	case h.SelfRoleARN != "" && ev.Actor == h.SelfRoleARN:
		reason = fmt.Sprintf("%s made by ecr-baseline itself", ev.EventName)
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
