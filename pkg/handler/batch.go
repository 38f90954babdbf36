package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ecr-baseline/ecr-baseline/internal/pool"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// sqsEventSource marks the records of an SQS event.
const sqsEventSource = "aws:sqs"

// BatchItemFailure names a message of the batch that failed.
type BatchItemFailure = events.SQSBatchItemFailure

// batch handles a batch of the sweep queue: each item is a page to list
// or a repository to enforce. An item that fails is named in the
// response, so the queue delivers it again after its visibility timeout
// and the others are deleted; an item failing its last allowed receive
// goes to the dead-letter queue with the reason. The invocation itself
// fails only for a payload that is not an SQS batch, which would fail
// every time.
func (h *Handler) batch(ctx context.Context, payload json.RawMessage) outcome {
	out := outcome{entry: EntrySweepBatch, bySweep: map[string]*enforcer.Tally{}}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		out.err = fmt.Errorf("sqs batch: %w", err)
		return out
	}
	stop := h.Stop
	if stop == nil {
		stop = backfill.NearDeadline(ctx, max(h.StopBefore-h.Reserve, 0))
	}
	var (
		mu  sync.Mutex
		res = &out.res
	)
	started := pool.Run(ev.Records, h.Concurrency, func() bool { return ctx.Err() != nil || stop() }, func(_ int, msg events.SQSMessage) {
		it, r, err := h.item(ctx, msg)
		failed := err != nil && !h.deadLetter(ctx, msg, it, err)
		mu.Lock()
		defer mu.Unlock()
		if failed {
			res.BatchItemFailures = append(res.BatchItemFailures, BatchItemFailure{ItemIdentifier: msg.MessageId})
		}
		t := out.bySweep[it.Sweep]
		if t == nil {
			t = &enforcer.Tally{}
			out.bySweep[it.Sweep] = t
		}
		switch {
		case r != nil:
			res.Results = append(res.Results, *r)
			t.Count(r.Action)
		case err != nil:
			// A page that could not be listed or queued, or an item that
			// could not be read: no repository result, still a failure.
			t.Failed++
		}
	})
	// Each not started still spent a receive; the queue delivers it again.
	for _, msg := range ev.Records[started:] {
		res.BatchItemFailures = append(res.BatchItemFailures, BatchItemFailure{ItemIdentifier: msg.MessageId})
		h.Logger.WarnContext(ctx, "sweep item not started before the deadline: the queue delivers it again", "message_id", msg.MessageId,
			"receive_count", msg.Attributes["ApproximateReceiveCount"])
	}
	slices.SortFunc(res.BatchItemFailures, func(a, b BatchItemFailure) int { return strings.Compare(a.ItemIdentifier, b.ItemIdentifier) })
	return out
}

// item handles one message: it returns the item (as far as it could be
// read), the enforcement result of an enforce item, and why it failed.
func (h *Handler) item(ctx context.Context, msg events.SQSMessage) (sweep.Item, *enforcer.Result, error) {
	it, err := sweep.Decode(msg.Body)
	if err != nil {
		return it, nil, err
	}
	if h.Members == nil && (it.Account != h.AccountID || it.Region != h.Region) {
		return it, nil, fmt.Errorf("sweep %s: item for account %s in %s, but this function enforces account %s in %s",
			it.Sweep, it.Account, it.Region, h.AccountID, h.Region)
	}
	reg, err := h.registry(ctx, it.Account, it.Region)
	if err != nil {
		return it, nil, fmt.Errorf("sweep %s: %w", it.Sweep, err)
	}
	if _, err := h.Baseline.Load(ctx, it.BaselineVersion); err != nil {
		return it, nil, fmt.Errorf("sweep %s: %w", it.Sweep, err)
	}
	ctx = enforcer.WithTrigger(ctx, "sweep:"+it.Sweep)
	if it.Kind == sweep.KindList {
		next, err := sweep.Page(ctx, reg.Lister, it)
		if err == nil {
			err = h.Queue.Send(ctx, next)
		}
		return it, nil, err
	}
	enf := reg.Enforcer
	if it.DryRun {
		enf = reg.DryRunEnforcer
	}
	r, err := enf.Enforce(ctx, it.Repo())
	return it, &r, err
}

// deadLetter sends an item that failed its last allowed receive to the
// dead-letter queue with the reason, and reports whether it did; one that
// still has receives left, or whose send failed, goes back to the queue
// (SQS moves it to the dead-letter queue itself, without the reason, once
// its receives are spent).
func (h *Handler) deadLetter(ctx context.Context, msg events.SQSMessage, it sweep.Item, cause error) bool {
	count, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	// trigger as the enforcer logs it, so one query finds a sweep's
	// results and its failed deliveries alike.
	log := h.Logger.With("sweep_id", it.Sweep, "trigger", "sweep:"+it.Sweep, "message_id", msg.MessageId, "kind", it.Kind,
		"repository", it.Repository, "receive_count", count)
	if h.DeadLetter == nil || h.MaxReceiveCount <= 0 || count < h.MaxReceiveCount {
		log.ErrorContext(ctx, "sweep item failed: the queue delivers it again", "action", enforcer.Failed, "error", cause)
		return false
	}
	if err := h.DeadLetter.Send(ctx, msg.Body, cause.Error(), count); err != nil {
		log.ErrorContext(ctx, "sweep item failed its last receive and could not be dead-lettered: SQS moves it without the reason",
			"action", enforcer.Failed, "error", cause, "dead_letter_error", err)
		return false
	}
	log.ErrorContext(ctx, "sweep item failed its last receive: sent to the dead-letter queue", "action", enforcer.Failed, "error", cause)
	return true
}
