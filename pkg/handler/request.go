package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// Actions of a request payload.
const (
	// ActionSweep is a manual sweep: {"action":"sweep","dryRun":true,"prefix":"team-a/"}.
	ActionSweep = "sweep"
	// ActionReconcile is the scheduled sweep, {"action":"reconcile"}: it
	// writes only when ApplyToExisting is set, like a parameter change's.
	ActionReconcile = "reconcile"
)

// SweepRequest is the payload of a request, and holds only what an
// operator may send: any other field is refused. A manual sweep requires
// dryRun, so a test invoke from the console cannot write to the whole
// fleet by leaving it out; the scheduled reconciliation sends no dryRun,
// which ApplyToExisting decides.
type SweepRequest struct {
	Action string `json:"action"`
	DryRun *bool  `json:"dryRun"`
	Prefix string `json:"prefix"`
}

// Started is the sweep a request or a parameter change queued. Its
// progress is the queue's depth; its results are the log lines and metric
// records carrying its ID.
type Started struct {
	ID              string `json:"id"`
	DryRun          bool   `json:"dryRun"`
	Prefix          string `json:"prefix,omitempty"`
	BaselineVersion int64  `json:"baselineVersion"`
	// Targets counts the accounts and regions it covers.
	Targets int `json:"targets"`
}

// ErrDryRunRequired is returned for a manual sweep without dryRun.
var ErrDryRunRequired = errors.New("dryRun is required: true to preview, false to apply")

// request starts a manual or scheduled sweep.
func (h *Handler) request(ctx context.Context, payload json.RawMessage) (Response, error) {
	var req SweepRequest
	if err := decodeStrict(payload, &req); err != nil {
		return Response{}, h.rejected(ctx, fmt.Errorf("sweep request: %w", err))
	}
	switch req.Action {
	case ActionSweep:
		if req.DryRun == nil {
			return Response{}, h.rejected(ctx, ErrDryRunRequired)
		}
		return h.startSweep(ctx, *req.DryRun, req.Prefix, "manual sweep")
	case ActionReconcile:
		if req.DryRun != nil || req.Prefix != "" {
			return Response{}, h.rejected(ctx, errors.New("a reconcile request takes no dryRun or prefix: APPLY_TO_EXISTING_REPOSITORIES decides whether it writes"))
		}
		return h.startSweep(ctx, !h.ApplyToExisting, "", "scheduled reconciliation")
	}
	return Response{}, h.rejected(ctx, fmt.Errorf("unknown action %q: a request is %q or %q", req.Action, ActionSweep, ActionReconcile))
}

func (h *Handler) rejected(ctx context.Context, err error) error {
	h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.Failed, "reason", err.Error())
	return err
}

// startSweep queues the first item of a sweep of the function's registry.
// The baseline is loaded first: one that cannot be read or is invalid
// fails here, with nothing queued, rather than once per repository.
func (h *Handler) startSweep(ctx context.Context, dryRun bool, prefix, why string) (Response, error) {
	if h.AccountID == "" {
		return Response{}, errors.New("sweep: nothing queued: the function's account is unknown (SELF_ROLE_ARN)")
	}
	version, err := h.Baseline.Load(ctx, 0)
	if err != nil {
		h.Logger.ErrorContext(ctx, "sweep not started", "action", enforcer.Failed, "error", err)
		return Response{}, fmt.Errorf("sweep: nothing queued: %w", err)
	}
	targets, err := h.targets(ctx)
	if err != nil {
		return Response{}, fmt.Errorf("sweep: nothing queued: %w", err)
	}
	// One list item per target: each account and region is listed, and
	// its repositories enforced, in parallel with the others, within its
	// own ECR quota.
	id := sweep.NewID()
	items := make([]sweep.Item, len(targets))
	for i, t := range targets {
		items[i] = sweep.Start(id, dryRun, version, t.Account, t.Region, prefix)
	}
	if err := h.Queue.Send(ctx, items); err != nil {
		// More than ten targets take several calls: some may be queued,
		// and a retry of this request starts another sweep beside them.
		return Response{}, fmt.Errorf("sweep %s: %w", id, err)
	}
	h.Logger.InfoContext(ctx, "sweep started", "sweep_id", id, "why", why, "dry_run", dryRun, "prefix", prefix,
		"baseline_version", version, "targets", len(targets))
	return Response{Sweep: &Started{ID: id, DryRun: dryRun, Prefix: prefix, BaselineVersion: version, Targets: len(targets)}}, nil
}
