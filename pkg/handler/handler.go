// Package handler turns a Lambda invocation into enforcement: it decides
// which payloads are events to enforce, which are skipped, and which are
// errors that Lambda's async retries and the dead-letter queue must keep.
package handler

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ecr-baseline/ecr-baseline/internal/pool"
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
	EnforceAfterWrite(ctx context.Context, repo ecrevent.Repository, written string) (enforcer.Result, error)
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
	LoadFresh(ctx context.Context, maxAge time.Duration) error
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
	// ExemptedByTag counts repositories a TagResource event just exempted.
	ExemptedByTag int `json:"exemptedByTag,omitempty"`
}

// BackfillRequest is the payload of a manual invoke, e.g.
// {"action":"backfill","dryRun":true,"prefix":"team-a/"}, and holds only
// what an operator may send: any other field is refused. dryRun is
// required, so a test invoke from the console cannot write to the whole
// fleet by leaving it out. A run that could not finish before the
// function's deadline returns a nextToken; invoke again with it as
// continuationToken to resume.
type BackfillRequest struct {
	Action            string `json:"action"`
	DryRun            *bool  `json:"dryRun"`
	Prefix            string `json:"prefix"`
	ContinuationToken string `json:"continuationToken,omitempty"`
}

// Continuation is the payload a fleet run started by a baseline change
// queues for its next invocation (action "continue"): the run so far,
// carrying the baseline version it started with and the repositories that
// failed. Once the fleet is covered the run queues one more (RetryFailed)
// that enforces those again, with a whole invocation's time for them. Its
// state has its own action rather than extra fields on BackfillRequest, so
// a console invoke cannot set it by adding fields to a manual backfill.
type Continuation struct {
	// BackfillRequest's Action is "continue".
	BackfillRequest
	// BaselineVersion is the SSM parameter version the run started with;
	// a container whose cached baseline is older reloads it first.
	BaselineVersion int64 `json:"baselineVersion,omitempty"`
	// Failed names repositories earlier invocations of the run could not
	// enforce, at most MaxCarried; FailedUncarried counts those beyond.
	Failed          []string `json:"failed,omitempty"`
	FailedUncarried int      `json:"failedUncarried,omitempty"`
	// RetryFailed marks the invocation that ends the run: it lists
	// nothing and enforces only Failed.
	RetryFailed bool `json:"retryFailed,omitempty"`
	// RunID names the run in every record its writes archive; the first
	// invocation sets it (its Lambda request id) and each continuation
	// carries it, so one run has one name across invocations.
	RunID string `json:"runId,omitempty"`
}

// MaxCarried caps the failed repositories a self-continued run carries, so
// the payload stays far below the 256 KB async invoke limit (256-character
// names). Failures beyond it are counted, not retried, and fail the run's
// last invocation.
const MaxCarried = 200

// maxNamed caps the repositories an error names, so the error stays
// readable and fits a dead-letter message and a log event; the rest are
// counted.
const maxNamed = 50

// ErrDryRunRequired is returned for a manual backfill without dryRun.
var ErrDryRunRequired = errors.New("dryRun is required: true to preview, false to apply")

// ActionBackfill is the BackfillRequest action.
const ActionBackfill = "backfill"

// actionContinue is the Continuation action.
const actionContinue = "continue"

// Handler is the Lambda entry point.
type Handler struct {
	Enforcer Enforcer
	Backfill Backfiller
	Baseline Baseline
	Continue Continuer
	// ParameterName is the baseline parameter whose changes re-enforce
	// the fleet.
	ParameterName string
	// ApplyToExisting lets the fleet run a parameter change starts write.
	// Without it that run, and its continuations, is a dry run whose
	// summary names what it would change: a first deploy must not replace
	// every team's policy before anyone has read the report. Repository
	// events are enforced either way.
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
	// AccountID and Region locate, by name, the repositories a run retries
	// at its end; without AccountID they cannot be retried and are
	// reported as failed.
	AccountID, Region string
	// Concurrency is how many failed repositories the end of a run retries
	// at once (at least one).
	Concurrency int
	// OwnWriteMaxAge is how old the cached baseline may be when an own
	// write is judged (0: always read it): a write made with a baseline
	// that changed since must not pass as the function's own work.
	OwnWriteMaxAge time.Duration
	// StopBefore is how long before the invocation's deadline a backfill
	// stops starting repositories.
	StopBefore time.Duration
	// Stop, when set, replaces the StopBefore deadline check wherever a run
	// decides to stop starting repositories (a cancelled context always
	// stops it), so tests stop runs by count rather than by the clock.
	Stop func() bool
	// Reserve is cut from the invocation's deadline for all the work and
	// every AWS call in it, so a call that is still retrying fails while
	// there is time left to return the error, log it and emit metrics,
	// rather than Lambda ending the invocation as timed out.
	Reserve time.Duration
	// Now, when set, replaces time.Now for judging an event's age.
	Now func() time.Time
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
	case peek.Action == actionContinue:
		var c Continuation
		if err := decodeStrict(payload, &c); err != nil {
			return EntryBackfill, Response{}, fmt.Errorf("continuation: %w", err)
		}
		// Only the function queues continuations, and a dry run never asks
		// for the end-of-run retry, which enforces with the live enforcer:
		// a payload asking for both is someone else's, and would write.
		if c.RetryFailed && (c.DryRun == nil || *c.DryRun) {
			return EntryBackfill, Response{}, errors.New("continuation: retryFailed is never part of a dry run")
		}
		res, err := h.backfill(ctx, c)
		return EntryBackfill, res, err
	case peek.Action != "":
		var req BackfillRequest
		if err := decodeStrict(payload, &req); err != nil {
			return EntryBackfill, Response{}, fmt.Errorf("backfill request: %w", err)
		}
		res, err := h.backfill(ctx, Continuation{BackfillRequest: req})
		return EntryBackfill, res, err
	}
	res, err := h.event(ctx, payload)
	return EntryEvent, res, err
}

// decodeStrict refuses unknown keys: a typo or a field of another payload
// must not be ignored on a request that can write to the whole fleet.
func decodeStrict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// record counts the repositories by outcome. An invocation error that no
// failed repository accounts for (a rejected payload, a baseline that
// could not be read, a run that could not continue) is one failure.
func (h *Handler) record(ctx context.Context, entry string, res Response, err error, d time.Duration) {
	if h.Metrics == nil {
		return
	}
	inv := metrics.Invocation{Entry: entry, Duration: d}
	if s := res.Summary; s != nil {
		inv.Tally = s.Tally
	}
	for _, r := range res.Results {
		inv.Count(r.Action)
	}
	inv.ExemptedByTag = res.ExemptedByTag
	if err != nil && inv.Failed == 0 {
		inv.Failed++
	}
	if err := h.Metrics.Emit(inv); err != nil {
		h.Logger.WarnContext(ctx, "metrics not emitted", "error", err)
	}
}

// backfill runs a manual backfill, or a fleet run's invocation (action
// "continue"), which queues its own continuation.
func (h *Handler) backfill(ctx context.Context, req Continuation) (Response, error) {
	selfContinue := req.Action == actionContinue
	if !selfContinue && req.Action != ActionBackfill {
		h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.Failed, "reason", "unknown action "+req.Action)
		return Response{}, fmt.Errorf("unknown action %q: the manual invoke payload supports %q", req.Action, ActionBackfill)
	}
	if req.DryRun == nil {
		h.Logger.ErrorContext(ctx, "rejected request", "action", enforcer.Failed, "reason", ErrDryRunRequired.Error())
		return Response{}, ErrDryRunRequired
	}
	// Loaded once before any repository: a baseline that cannot be read or
	// is invalid fails the run here, rather than once per repository with
	// a GetParameter each (failures are not cached).
	version, err := h.Baseline.Load(ctx, req.BaselineVersion)
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.Failed, "error", err)
		return Response{}, fmt.Errorf("backfill: nothing enforced: %w", err)
	}
	if req.RunID == "" {
		req.RunID = requestID(ctx)
	}
	ctx = enforcer.WithTrigger(ctx, "run:"+cmp.Or(req.RunID, "unnamed"))
	if req.RetryFailed {
		return h.retryFailed(ctx, req)
	}
	sum, err := h.Backfill.Run(ctx, backfill.Options{
		Prefix: req.Prefix, DryRun: *req.DryRun, Token: req.ContinuationToken, StopBefore: h.stopMargin(), Stop: h.Stop,
	})
	if err != nil {
		h.Logger.ErrorContext(ctx, "backfill failed", "action", enforcer.Failed, "error", err)
		return Response{}, err
	}
	h.Logger.InfoContext(ctx, "backfill summary", "prefix", req.Prefix, "dry_run", *req.DryRun, "baseline_version", version,
		"scanned", sum.Scanned, "applied", sum.Applied, "would_apply", sum.WouldApply, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "exempt", sum.Exempt, "failed", sum.Failed, "complete", sum.Complete, "next_token", sum.NextToken,
		"would_apply_repositories", sum.WouldApplyRepositories)
	if !selfContinue {
		return Response{Summary: &sum}, nil
	}
	next := req
	next.ContinuationToken, next.BaselineVersion = sum.NextToken, version
	next.Failed, next.FailedUncarried = carry(req.Failed, req.FailedUncarried, sum.Failures)
	if sum.Complete {
		if len(next.Failed) == 0 && next.FailedUncarried == 0 {
			return Response{Summary: &sum}, nil
		}
		if *req.DryRun {
			// A dry run writes nothing a retry could fix.
			return Response{Summary: &sum}, failedError(next.Failed, 0, next.FailedUncarried)
		}
		next.RetryFailed = true
	}
	payload, err := json.Marshal(next)
	if err == nil {
		err = h.Continue.Continue(ctx, payload)
	}
	if err != nil {
		// Failing the invocation lets Lambda retry it from the same
		// token; the repositories done so far are unchanged on retry. If
		// the queued invocation did land and only its answer was lost,
		// the retry starts a second chain over the rest of the fleet:
		// wasted calls, no wrong policy, as enforcement is idempotent.
		return Response{Summary: &sum}, fmt.Errorf("backfill could not queue its next invocation: %w", err)
	}
	return Response{Summary: &sum}, nil
}

// stopMargin is how long before the context's deadline a run stops
// starting repositories: the context's deadline is already Reserve early,
// so runs stop StopBefore before the invocation's own deadline, as
// documented.
func (h *Handler) stopMargin() time.Duration {
	return max(h.StopBefore-h.Reserve, 0)
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

// retryFailed ends a self-continued run: it enforces once more, a few at a
// time, the repositories earlier invocations failed, and returns an error
// naming every one still failing or not reached before the deadline.
// Lambda's async retries re-run this payload, which lists nothing and so
// queues nothing; after them the on-failure destination keeps it.
func (h *Handler) retryFailed(ctx context.Context, req Continuation) (Response, error) {
	if h.AccountID == "" {
		// Without the account a repository cannot be located by name.
		h.Logger.ErrorContext(ctx, "failed repositories not retried", "action", enforcer.Failed, "reason", "the function's account is unknown (SELF_ROLE_ARN)")
		return Response{}, failedError(req.Failed, 0, req.FailedUncarried)
	}
	stop := h.Stop
	if stop == nil {
		stop = backfill.NearDeadline(ctx, h.stopMargin())
	}
	var (
		mu    sync.Mutex
		res   Response
		still []string
	)
	started := pool.Run(req.Failed, h.Concurrency, func() bool { return ctx.Err() != nil || stop() }, func(_ int, name string) {
		repo := ecrevent.Repository{RegistryID: h.AccountID, Region: h.Region, Name: name,
			ARN: ecrevent.RepositoryARN(h.Region, h.AccountID, name)}
		r, err := h.Enforcer.Enforce(ctx, repo)
		mu.Lock()
		defer mu.Unlock()
		res.Results = append(res.Results, r)
		if err != nil {
			still = append(still, name)
		}
	})
	notAttempts := len(req.Failed) - started
	still = append(still, req.Failed[started:]...)
	if len(still) == 0 && req.FailedUncarried == 0 {
		return res, nil
	}
	slices.Sort(still)
	h.Logger.ErrorContext(ctx, "backfill ended with failures", "action", enforcer.Failed,
		"repositories", still[:min(len(still), maxNamed)], "still_failing", len(still), "not_attempted", notAttempts, "failed_uncarried", req.FailedUncarried)
	return res, failedError(still, notAttempts, req.FailedUncarried)
}

// failedError names at most maxNamed of the repositories a run leaves
// failed and counts the rest.
func failedError(still []string, notAttempted, uncarried int) error {
	var problems []string
	if len(still) > 0 {
		named := strings.Join(still[:min(len(still), maxNamed)], ", ")
		if len(still) > maxNamed {
			named += fmt.Sprintf(" and %d more", len(still)-maxNamed)
		}
		why := ""
		if notAttempted > 0 {
			why = fmt.Sprintf(" (%d not reached before the deadline)", notAttempted)
		}
		problems = append(problems, fmt.Sprintf("%d repositories still fail%s: %s", len(still), why, named))
	}
	if uncarried > 0 {
		problems = append(problems, fmt.Sprintf("%d failed in earlier invocations beyond the %d carried and were not retried (see their logs)", uncarried, MaxCarried))
	}
	return fmt.Errorf("backfill complete but %s", strings.Join(problems, "; "))
}

// parameterChange re-enforces the whole fleet with the new baseline,
// dropping the cached one first so this very invocation uses it; the
// version it reads travels with the run's continuations.
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
	dryRun := !h.ApplyToExisting
	msg := "baseline changed: re-enforcing every repository"
	if dryRun {
		msg = "baseline changed: reporting what re-enforcing every repository would change (APPLY_TO_EXISTING_REPOSITORIES is false)"
	}
	log.InfoContext(ctx, msg, "action", "backfill", "dry_run", dryRun)
	return h.backfill(ctx, Continuation{BackfillRequest: BackfillRequest{Action: actionContinue, DryRun: &dryRun}})
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
		h.Logger.ErrorContext(ctx, "rejected event", "action", enforcer.Failed, "error", err)
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
	// A foreign policy write is enforced with the policy it set, so merge
	// mode puts back what a racing write of this function dropped from it;
	// an own write (reaching here only with a stale baseline) restores
	// nothing.
	written := ev.PolicyText
	if h.SelfRoleARN != "" && ev.Actor == h.SelfRoleARN || !h.recent(ev) {
		written = ""
	}
	res, err := h.Enforcer.EnforceAfterWrite(enforcer.WithTrigger(ctx, "event:"+ev.ID), ev.Repository, written)
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

// requestID is the Lambda request id of the invocation that starts a run,
// which names the run; outside Lambda there is none.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// skip returns why an event needs no enforcement, or "" when it does.
//
// An own write is judged against a baseline read at most OwnWriteMaxAge
// ago, not the TTL: a write made with a baseline that has changed since
// then does not carry the current one, so the repository is enforced
// again, whichever container made the write and whichever sees it. An
// own write that still lacks it after that means the cache changed within
// OwnWriteMaxAge: it is dropped and the repository enforced.
func (h *Handler) skip(ctx context.Context, ev ecrevent.Event) (string, error) {
	switch {
	case ev.FailedCall != "":
		return fmt.Sprintf("%s call failed with %s", ev.EventName, ev.FailedCall), nil
	case h.SelfRoleARN == "" || ev.Actor != h.SelfRoleARN:
		return "", nil
	case ev.EventName != ecrevent.EventSetRepoPolicy:
		return fmt.Sprintf("%s made by ecr-baseline itself", ev.EventName), nil
	}
	if err := h.Baseline.LoadFresh(ctx, h.OwnWriteMaxAge); err != nil {
		return "", err
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
