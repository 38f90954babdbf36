// Package handler turns a Lambda invocation into enforcement. It has one
// entry per kind of payload, each in its own file: an ECR event
// (event.go), a batch of the sweep queue (batch.go), a manual or scheduled
// sweep request (request.go) and a change of the baseline parameter
// (parameter.go). This file dispatches between them and records what each
// invocation did.
package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/ssmevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// Enforcer enforces the baseline on one repository, and tells whether a
// policy the function's own role wrote holds the baseline it has.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
	EnforceAfterWrite(ctx context.Context, repo ecrevent.Repository, written string) (enforcer.Result, error)
	Carries(ctx context.Context, repo ecrevent.Repository, policyText string) (bool, error)
}

var _ Enforcer = (*enforcer.Enforcer)(nil)

// Baseline is the container's cached baseline. A parameter change
// invalidates it; a sweep loads it before queuing anything, and each of
// its items at least as new as the version the sweep started with.
type Baseline interface {
	Invalidate()
	Load(ctx context.Context, minVersion int64) (int64, error)
	LoadFresh(ctx context.Context, maxAge time.Duration) error
}

// Queue queues sweep items.
type Queue interface {
	Send(ctx context.Context, items []sweep.Item) error
}

// DeadLetter receives a sweep item that failed its last allowed receive,
// with the reason.
type DeadLetter interface {
	Send(ctx context.Context, body, reason string, receiveCount int) error
}

// Recorder records what one invocation did as metrics.
type Recorder interface {
	Emit(inv metrics.Invocation) error
}

var (
	_ Recorder   = (*metrics.Emitter)(nil)
	_ Queue      = sweep.Queue{}
	_ DeadLetter = sweep.DeadLetter{}
)

// Entries, as recorded in metrics.
const (
	EntryEvent           = "event"
	EntrySweepRequest    = "sweep-request"
	EntrySweepBatch      = "sweep-batch"
	EntryParameterChange = "parameter-change"
)

// Response is what the function returns to its invoker.
type Response struct {
	Results []enforcer.Result `json:"results,omitempty"`
	// Sweep is the sweep a request or a parameter change started.
	Sweep *Started `json:"sweep,omitempty"`
	// BatchItemFailures names the messages of a sweep batch the queue
	// must deliver again (the event source mapping's
	// ReportBatchItemFailures); the others are deleted.
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures,omitempty"`
	// ExemptedByTag counts repositories a TagResource event just exempted.
	ExemptedByTag int `json:"exemptedByTag,omitempty"`
}

// outcome is what one entry did.
type outcome struct {
	entry string
	res   Response
	// bySweep counts a sweep batch's results per sweep, which each get
	// their own metric record.
	bySweep map[string]*metrics.Invocation
	err     error
}

// Handler is the Lambda entry point.
type Handler struct {
	// Enforcer writes; DryRunEnforcer only reports, for dry-run sweeps.
	Enforcer       Enforcer
	DryRunEnforcer Enforcer
	Baseline       Baseline
	// Lister lists the repositories of a sweep's pages.
	Lister sweep.Lister
	// Queue is the sweep queue; DeadLetter its dead-letter queue.
	Queue      Queue
	DeadLetter DeadLetter
	// MaxReceiveCount is the sweep queue's maxReceiveCount: an item that
	// fails its receive of that number goes to DeadLetter with the reason.
	MaxReceiveCount int
	// ParameterName is the baseline parameter whose changes re-enforce
	// the fleet.
	ParameterName string
	// ApplyToExisting lets the sweeps a parameter change or the schedule
	// starts write. Without it they are dry runs whose results name what
	// they would change: a first deploy must not replace every team's
	// policy before anyone has read the report. Repository events are
	// enforced either way.
	ApplyToExisting bool
	// ExemptTagKey is the key of the exemption tag ("" when tag exemption
	// is off): a TagResource event setting it that leaves the repository
	// exempt is logged at WARN with who tagged it and counted, since
	// whoever may tag a repository can take it out of the baseline.
	ExemptTagKey string
	// ExemptTagValue is the value of that tag that exempts.
	ExemptTagValue string
	// SelfRoleARN is the function's role; its own policy writes come back
	// as SetRepositoryPolicy events and are skipped when they hold this
	// container's baseline, so it never loops.
	SelfRoleARN string
	// AccountID and Region are the function's own registry, which
	// Enforcer, DryRunEnforcer and Lister reach; a sweep covers it.
	AccountID, Region string
	// Members, when set, are the member accounts a hub enforces in
	// besides its own registry (organisation mode): their events are
	// enforced in their registries, a sweep covers them all, and an event
	// from any other account is refused.
	Members Members
	// Concurrency is how many items of a sweep batch are handled at once
	// (at least one).
	Concurrency int
	// OwnWriteMaxAge is how old the cached baseline may be when an own
	// write is judged (0: always read it): a write made with a baseline
	// that changed since must not pass as the function's own work.
	OwnWriteMaxAge time.Duration
	// StopBefore is how long before the invocation's deadline a sweep
	// batch stops starting items; those not started go back to the queue.
	StopBefore time.Duration
	// Stop, when set, replaces the StopBefore deadline check (a cancelled
	// context always stops), so tests stop a batch by count rather than
	// by the clock.
	Stop func() bool
	// Reserve is cut from the invocation's deadline for all the work and
	// every AWS call in it, so a call that is still retrying fails while
	// there is time left to return the error, log it and emit metrics,
	// rather than Lambda ending the invocation as timed out.
	Reserve time.Duration
	// Now, when set, replaces time.Now for judging an event's age and how
	// near a batch is to its deadline.
	Now func() time.Time
	// Metrics, when set, receives one record per invocation (per sweep,
	// for a sweep batch).
	Metrics Recorder
	Logger  *slog.Logger
}

// Handle dispatches the payload to its entry, then records what the
// invocation did.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
	start := time.Now()
	if deadline, ok := ctx.Deadline(); ok && h.Reserve > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-h.Reserve))
		defer cancel()
	}
	out := h.dispatch(ctx, payload)
	h.record(ctx, out, time.Since(start))
	return out.res, out.err
}

func (h *Handler) dispatch(ctx context.Context, payload json.RawMessage) outcome {
	var peek struct {
		Source  string `json:"source"`
		Action  string `json:"action"`
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	// A payload that is not a JSON object leaves peek empty and falls to
	// h.event, whose parser rejects it with the parse error.
	_ = json.Unmarshal(payload, &peek)
	switch {
	case len(peek.Records) > 0 && peek.Records[0].EventSource == sqsEventSource:
		return h.batch(ctx, payload)
	case peek.Source == ssmevent.Source:
		res, err := h.parameterChange(ctx, payload)
		return outcome{entry: EntryParameterChange, res: res, err: err}
	case peek.Action != "":
		res, err := h.request(ctx, payload)
		return outcome{entry: EntrySweepRequest, res: res, err: err}
	}
	res, err := h.event(ctx, payload)
	return outcome{entry: EntryEvent, res: res, err: err}
}

// decodeStrict refuses unknown keys: a typo or a field of another payload
// must not be ignored on a request that can write to the whole fleet.
func decodeStrict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// record counts the repositories by outcome, one record per sweep for a
// sweep batch. An invocation error that no failed repository accounts for
// (a rejected payload, a baseline that could not be read) is one failure.
func (h *Handler) record(ctx context.Context, out outcome, d time.Duration) {
	if h.Metrics == nil {
		return
	}
	res := out.res
	var records []metrics.Invocation
	for id, inv := range out.bySweep {
		inv.Entry, inv.Sweep = out.entry, id
		records = append(records, *inv)
	}
	// The invocation's duration once, so a batch of two sweeps does not
	// count it twice.
	if len(records) > 0 {
		records[0].Duration = d
	}
	if len(records) == 0 {
		inv := metrics.Invocation{Entry: out.entry, Duration: d, ExemptedByTag: res.ExemptedByTag}
		if res.Sweep != nil {
			inv.Sweep = res.Sweep.ID
		}
		for _, r := range res.Results {
			inv.Count(r.Action)
		}
		if out.err != nil && inv.Failed == 0 {
			inv.Failed++
		}
		records = append(records, inv)
	}
	for _, inv := range records {
		if err := h.Metrics.Emit(inv); err != nil {
			h.Logger.WarnContext(ctx, "metrics not emitted", "error", err)
		}
	}
}
