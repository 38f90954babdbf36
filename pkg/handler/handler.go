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
)

// Enforcer enforces the baseline on one repository.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
}

// Backfiller enforces the baseline on every repository in scope.
type Backfiller interface {
	Run(ctx context.Context, opts backfill.Options) (backfill.Summary, error)
}

// Response is what the function returns to its invoker.
type Response struct {
	Results []enforcer.Result `json:"results,omitempty"`
	Summary *backfill.Summary `json:"summary,omitempty"`
}

// BackfillRequest is the payload of a manual invoke, e.g.
// {"action":"backfill","dryRun":true,"prefix":"team-a/"}. A run that could
// not finish before the function's deadline returns a nextToken; invoke
// again with it as continuationToken to resume.
type BackfillRequest struct {
	Action            string `json:"action"`
	DryRun            bool   `json:"dryRun"`
	Prefix            string `json:"prefix"`
	ContinuationToken string `json:"continuationToken"`
}

// ActionBackfill is the BackfillRequest action.
const ActionBackfill = "backfill"

// Handler is the Lambda entry point.
type Handler struct {
	Enforcer Enforcer
	Backfill Backfiller
	// StopBefore is how long before the invocation's deadline a backfill
	// stops starting repositories.
	StopBefore time.Duration
	Logger     *slog.Logger
}

// Handle dispatches a manual backfill request or an ECR event.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
	var req BackfillRequest
	if json.Unmarshal(payload, &req) == nil && req.Action != "" {
		return h.backfill(ctx, req)
	}
	return h.event(ctx, payload)
}

func (h *Handler) backfill(ctx context.Context, req BackfillRequest) (Response, error) {
	if req.Action != ActionBackfill {
		h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.ActionError, "reason", "unknown action "+req.Action)
		return Response{}, fmt.Errorf("unknown action %q: the manual invoke payload supports %q", req.Action, ActionBackfill)
	}
	sum, err := h.Backfill.Run(ctx, backfill.Options{
		Prefix: req.Prefix, DryRun: req.DryRun, Token: req.ContinuationToken, StopBefore: h.StopBefore,
	})
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.ActionError, "error", err)
		return Response{}, err
	}
	h.Logger.InfoContext(ctx, "backfill summary", "prefix", req.Prefix, "dry_run", req.DryRun,
		"scanned", sum.Scanned, "applied", sum.Applied, "would_apply", sum.WouldApply, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "failed", sum.Failed, "complete", sum.Complete, "next_token", sum.NextToken)
	return Response{Summary: &sum}, nil
}

// event enforces the baseline on the repository an event names.
//
// A malformed or foreign event and every enforcement error are returned as
// errors: the invocation fails, Lambda retries it, and the event ends in the
// dead-letter queue rather than being dropped. A CreateRepository call that
// failed (errorCode set) created nothing, so it is skipped with a reason.
func (h *Handler) event(ctx context.Context, payload json.RawMessage) (Response, error) {
	ev, err := ecrevent.Parse(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.ActionError, "error", err)
		return Response{}, fmt.Errorf("parse event: %w", err)
	}
	if ev.FailedCall != "" {
		res := enforcer.Result{
			Repository: ev.Repository.Name,
			Action:     enforcer.Skipped,
			Reason:     fmt.Sprintf("%s call failed with %s", ev.EventName, ev.FailedCall),
		}
		h.Logger.InfoContext(ctx, "skipped event", "event_id", ev.ID, "repository", res.Repository, "action", res.Action, "reason", res.Reason)
		return Response{Results: []enforcer.Result{res}}, nil
	}
	res, err := h.Enforcer.Enforce(ctx, ev.Repository)
	if err != nil {
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return Response{Results: []enforcer.Result{res}}, nil
}
