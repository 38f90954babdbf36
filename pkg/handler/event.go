package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

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
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.Failed, "error", err)
		return Response{}, fmt.Errorf("parse event: %w", err)
	}
	reg, err := h.registry(ctx, ev.Repository.RegistryID, ev.Repository.Region)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected event", "event_id", ev.ID, "repository", ev.Repository.Name, "action", enforcer.Failed, "error", err)
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	reason, err := h.skip(ctx, ev, reg)
	if err != nil {
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if reason != "" {
		res := enforcer.Result{Repository: ev.Repository.Name, Action: enforcer.Skipped, Reason: reason}
		h.Logger.InfoContext(ctx, "skipped event", "event_id", ev.ID, "event_name", ev.EventName, "repository", res.Repository, "action", res.Action, "reason", res.Reason)
		return Response{Results: []enforcer.Result{res}}, nil
	}
	// A foreign policy write is enforced with the policy it set, so merge
	// mode puts back what a racing write of this function dropped from it;
	// an own write (reaching here only with a stale baseline) restores
	// nothing.
	written := ev.PolicyText
	if reg.OwnRoleARN != "" && ev.Actor == reg.OwnRoleARN || !h.recent(ev) {
		written = ""
	}
	res, err := reg.Enforcer.EnforceAfterWrite(enforcer.WithTrigger(ctx, "event:"+ev.ID), ev.Repository, written)
	if err != nil {
		// Lambda drops the response of a failed invocation; record counts
		// the error as the event's one failure.
		return Response{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	out := Response{Results: []enforcer.Result{res}}
	if h.newlyExemptedByTag(ev, res) {
		out.ExemptedByTag = 1
		h.Logger.WarnContext(ctx, "repository exempted by tag", "event_id", ev.ID, "repository", res.Repository,
			"action", res.Action, "reason", res.Reason, "tagged_by", ev.Actor)
	}
	return out, nil
}

// newlyExemptedByTag reports whether ev set the exemption tag to its
// exempting value, on an existing repository (TagResource) or a new one
// (CreateRepository with tags), and left the repository exempt.
func (h *Handler) newlyExemptedByTag(ev ecrevent.Event, res enforcer.Result) bool {
	tagging := ev.EventName == ecrevent.EventTagResource || ev.EventName == ecrevent.EventCreateRepo
	if h.ExemptTagKey == "" || !tagging || res.Action != enforcer.Exempt {
		return false
	}
	v, ok := ev.TagsAdded[h.ExemptTagKey]
	return ok && v == h.ExemptTagValue
}

// RaceRepairMaxAge is how old a foreign SetRepositoryPolicy event may be
// for its policy to be merged back (Enforcer.EnforceAfterWrite). A race
// with this function's write lasts one read-to-write, seconds; an older
// event, delivered late or redriven from the DLQ, may carry statements the
// team has removed since, and putting those back could re-open access.
const RaceRepairMaxAge = 2 * time.Minute

// recent reports whether ev happened at most RaceRepairMaxAge ago; an
// event whose time cannot be read is not.
func (h *Handler) recent(ev ecrevent.Event) bool {
	at, err := time.Parse(time.RFC3339, ev.Time)
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	return err == nil && now().Sub(at) <= RaceRepairMaxAge
}

// skip returns why an event needs no enforcement, or "" when it does.
//
// An own write is judged against a baseline read at most OwnWriteMaxAge
// ago, not the TTL: a write made with a baseline that has changed since
// then does not carry the current one, so the repository is enforced
// again, whichever container made the write and whichever sees it. An
// own write that still lacks it after that means the cache changed within
// OwnWriteMaxAge: it is dropped and the repository enforced.
func (h *Handler) skip(ctx context.Context, ev ecrevent.Event, reg Registry) (string, error) {
	switch {
	case ev.FailedCall != "":
		return fmt.Sprintf("%s call failed with %s", ev.EventName, ev.FailedCall), nil
	case reg.OwnRoleARN == "" || ev.Actor != reg.OwnRoleARN:
		return "", nil
	case ev.EventName != ecrevent.EventSetRepoPolicy:
		return fmt.Sprintf("%s made by ecr-baseline itself", ev.EventName), nil
	}
	if err := h.Baseline.LoadFresh(ctx, h.OwnWriteMaxAge); err != nil {
		return "", err
	}
	carries, err := reg.Enforcer.Carries(ctx, ev.Repository, ev.PolicyText)
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
