// Package handler turns a Lambda invocation into enforcement: it decides
// which payloads are events to enforce, which are skipped, and which are
// errors that Lambda's async retries and the dead-letter queue must keep.
package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

// Enforcer enforces the baseline on one repository.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
}

// Response is what the function returns to its invoker.
type Response struct {
	Results []enforcer.Result `json:"results"`
}

// Handler is the Lambda entry point.
type Handler struct {
	Enforcer Enforcer
	Logger   *slog.Logger
}

// Handle enforces the baseline on the repository an event names.
//
// A malformed or foreign event and every enforcement error are returned as
// errors: the invocation fails, Lambda retries it, and the event ends in the
// dead-letter queue rather than being dropped. A CreateRepository call that
// failed (errorCode set) created nothing, so it is skipped with a reason.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
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
