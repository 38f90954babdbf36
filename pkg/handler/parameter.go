package handler

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/ssmevent"
)

// parameterChange sweeps the whole fleet with the new baseline, dropping
// the cached one first so the sweep starts with it; its items carry the
// version, so every container enforces at least that one.
func (h *Handler) parameterChange(ctx context.Context, payload json.RawMessage) (Response, error) {
	ch, err := ssmevent.Parse(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.Failed, "error", err)
		return Response{}, err
	}
	log := h.Logger.With("event_id", ch.ID, "parameter", ch.Name, "operation", ch.Operation)
	if ch.Name != h.ParameterName {
		log.InfoContext(ctx, "skipped event", "action", enforcer.Skipped, "reason", "not the baseline parameter "+h.ParameterName)
		return Response{}, nil
	}
	if ch.Operation == "Delete" {
		log.ErrorContext(ctx, "baseline deleted", "action", enforcer.Failed, "reason", "repositories keep their policies; new ones will fail until the parameter exists again")
		return Response{}, fmt.Errorf("baseline parameter %s was deleted", ch.Name)
	}
	h.Baseline.Invalidate()
	why := "baseline changed: re-enforcing every repository"
	if !h.ApplyToExisting {
		why = "baseline changed: reporting what re-enforcing every repository would change (APPLY_TO_EXISTING_REPOSITORIES is false)"
	}
	return h.startSweep(ctx, !h.ApplyToExisting, "", why)
}
