package handler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ecr-baseline/ecr-baseline/internal/pool"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// sqsEventSource marks the records of an SQS event.
const sqsEventSource = "aws:sqs"

// BatchItemFailure names a message of the batch that failed.
type BatchItemFailure = events.SQSBatchItemFailure

// batch handles a batch of the sweep queue: each item is a page to list
// or a repository to enforce. An item that fails is named in the
// response, so the queue delivers it again after its visibility timeout
// and the others are deleted; an item failing its last allowed receive,
// or one that can never succeed, goes to the dead-letter queue with the
// reason. The invocation itself fails only for a payload that is not an
// SQS batch, which would fail every time.
func (h *Handler) batch(ctx context.Context, payload json.RawMessage) outcome {
	out := outcome{entry: EntrySweepBatch, bySweep: map[string]*metrics.Invocation{}}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		out.err = fmt.Errorf("sqs batch: %w", err)
		return out
	}
	stop := h.Stop
	if stop == nil {
		stop = backfill.NearDeadline(ctx, h.stopMargin(), h.Now)
	}
	// The items with the fewest receives left start first, so one on its
	// last receive is not the one a deadline leaves unstarted.
	records := slices.Clone(ev.Records)
	slices.SortStableFunc(records, func(a, b events.SQSMessage) int { return cmp.Compare(receiveCount(b), receiveCount(a)) })
	var (
		mu  sync.Mutex
		res = &out.res
	)
	tally := func(sweepID string) *metrics.Invocation {
		inv := out.bySweep[sweepID]
		if inv == nil {
			inv = &metrics.Invocation{}
			out.bySweep[sweepID] = inv
		}
		return inv
	}
	started := pool.Run(records, h.Concurrency, func() bool { return ctx.Err() != nil || stop() }, func(_ int, msg events.SQSMessage) {
		it, r, err := h.item(ctx, msg)
		returned, final := false, false
		if err != nil {
			returned, final = h.fail(ctx, msg, it, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if returned {
			res.BatchItemFailures = append(res.BatchItemFailures, BatchItemFailure{ItemIdentifier: msg.MessageId})
		}
		if r != nil {
			res.Results = append(res.Results, *r)
		}
		// A sweep's counts are per repository: a failure counts once,
		// when it is final; a delivery the queue makes again is a retry.
		inv := tally(it.Sweep)
		switch {
		case err == nil && r != nil:
			inv.Count(r.Action)
		case err != nil && final:
			inv.Failed++
		case err != nil:
			inv.Retried++
		}
	})
	for _, msg := range records[started:] {
		it, _ := sweep.Decode(msg.Body) // for its sweep id; an unreadable one is read again next time
		returned := h.notStarted(ctx, msg, it)
		if returned {
			res.BatchItemFailures = append(res.BatchItemFailures, BatchItemFailure{ItemIdentifier: msg.MessageId})
			tally(it.Sweep).Retried++
		} else {
			tally(it.Sweep).Failed++
		}
	}
	slices.SortFunc(res.BatchItemFailures, func(a, b BatchItemFailure) int { return strings.Compare(a.ItemIdentifier, b.ItemIdentifier) })
	return out
}

// receiveCount is how many times the queue has delivered msg (0 if it
// does not say).
func receiveCount(msg events.SQSMessage) int {
	n, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	return n
}

// errInvalidItem marks an item that can never succeed: one that cannot be
// read, or names another function's registry. It goes to the dead-letter
// queue at once rather than after every receive.
var errInvalidItem = errors.New("invalid sweep item")

// item handles one message: it returns the item (as far as it could be
// read), the enforcement result of an enforce item, and why it failed.
func (h *Handler) item(ctx context.Context, msg events.SQSMessage) (sweep.Item, *enforcer.Result, error) {
	it, err := sweep.Decode(msg.Body)
	if err != nil {
		return it, nil, fmt.Errorf("%w: %w", errInvalidItem, err)
	}
	if h.Members == nil && (it.Account != h.AccountID || it.Region != h.Region) {
		return it, nil, fmt.Errorf("%w: sweep %s: item for account %s in %s, but this function enforces account %s in %s",
			errInvalidItem, it.Sweep, it.Account, it.Region, h.AccountID, h.Region)
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
		return it, nil, h.listPage(ctx, reg, it)
	}
	enf := reg.Enforcer
	if *it.DryRun {
		enf = reg.DryRunEnforcer
	}
	r, err := enf.Enforce(ctx, it.Repo())
	return it, &r, err
}

// listPage lists a list item's page and queues its repositories, then, once
// all of them are queued, the next page. Queued in that order, a page that
// fails part way and is delivered again queues its repositories twice
// (enforcing twice is idempotent) but never the next page twice, which
// would list the rest of the registry twice over.
func (h *Handler) listPage(ctx context.Context, reg Registry, it sweep.Item) error {
	repos, next, err := sweep.Page(ctx, reg.Lister, it)
	if err != nil {
		return err
	}
	if err := h.Queue.Send(ctx, repos); err != nil {
		return err
	}
	if next == nil {
		return nil
	}
	return h.Queue.Send(ctx, []sweep.Item{*next})
}

// fail handles an item that failed: it reports whether the queue must
// deliver it again, and whether the failure is final. One that can never
// succeed, or failed its last allowed receive, is sent to the dead-letter
// queue with the reason; if that send fails it goes back to the queue,
// whose own redrive moves it there without the reason once its receives
// are spent.
func (h *Handler) fail(ctx context.Context, msg events.SQSMessage, it sweep.Item, cause error) (returned, final bool) {
	count := receiveCount(msg)
	// trigger as the enforcer logs it, so one query finds a sweep's
	// results and its failed deliveries alike.
	log := h.Logger.With("sweep_id", it.Sweep, "trigger", "sweep:"+it.Sweep, "message_id", msg.MessageId, "kind", it.Kind,
		"repository", it.Repository, "receive_count", count)
	last := h.MaxReceiveCount > 0 && count >= h.MaxReceiveCount
	if h.DeadLetter == nil || !last && !errors.Is(cause, errInvalidItem) {
		log.ErrorContext(ctx, "sweep item failed: the queue delivers it again", "action", enforcer.Failed, "error", cause)
		return true, last
	}
	sendCtx, cancel := h.lastWords(ctx)
	defer cancel()
	if err := h.DeadLetter.Send(sendCtx, msg.Body, cause.Error(), count); err != nil {
		log.ErrorContext(ctx, "sweep item failed and could not be dead-lettered: SQS moves it without the reason once its receives are spent",
			"action", enforcer.Failed, "error", cause, "dead_letter_error", err)
		return true, last
	}
	log.ErrorContext(ctx, "sweep item failed for good: sent to the dead-letter queue", "action", enforcer.Failed, "error", cause)
	return false, true
}

// notStarted handles an item a deadline left unstarted, and reports
// whether the queue must deliver it again: one on its last receive would
// be moved by SQS without a reason, so it is dead-lettered with one.
func (h *Handler) notStarted(ctx context.Context, msg events.SQSMessage, it sweep.Item) bool {
	count := receiveCount(msg)
	log := h.Logger.With("sweep_id", it.Sweep, "trigger", "sweep:"+it.Sweep, "message_id", msg.MessageId, "kind", it.Kind,
		"repository", it.Repository, "receive_count", count)
	if h.DeadLetter == nil || h.MaxReceiveCount <= 0 || count < h.MaxReceiveCount {
		log.WarnContext(ctx, "sweep item not started before the deadline: the queue delivers it again")
		return true
	}
	reason := "not started before the invocation's deadline on its last receive"
	sendCtx, cancel := h.lastWords(ctx)
	defer cancel()
	if err := h.DeadLetter.Send(sendCtx, msg.Body, reason, count); err != nil {
		log.ErrorContext(ctx, "sweep item not started on its last receive and could not be dead-lettered", "action", enforcer.Failed, "error", err)
		return true
	}
	log.ErrorContext(ctx, "sweep item not started on its last receive: sent to the dead-letter queue", "action", enforcer.Failed)
	return false
}

// lastWords is the context of a dead-letter send: the work's context ends
// Reserve before the Lambda deadline, which is when an item that ran out
// of time fails, so the send gets that Reserve, and no more, to land.
func (h *Handler) lastWords(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), max(h.Reserve, time.Second))
}

// stopMargin is how long before the context's deadline a batch stops
// starting items: the context already ends Reserve before the Lambda
// deadline, so items stop StopBefore before that one.
func (h *Handler) stopMargin() time.Duration {
	return max(h.StopBefore-h.Reserve, 0)
}
