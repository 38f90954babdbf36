package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// Paced is a retry policy whose attempts are paced, each operation on its
// own, by the SDK's adaptive retry mode's client-side rate limiter
// (retry.AdaptiveMode): unrestricted at first, cut on every throttling
// error and grown back (CUBIC) once throttling stops.
//
// Why adaptive: ECR publishes no quota for the calls ecr-baseline makes,
// so no fixed rate can be right; it throttles per API, account and region,
// and one SDK client is bound to one account and region, so a limiter per
// client and operation is one per quota. Build one client per account and
// region and share it between workers (pkg/app does): they all slow down
// together, and a throttled SetRepositoryPolicy never slows the reads.
// Between containers, the event source's maximum concurrency bounds the
// total.
//
// Why every attempt: a retry costs the server as much as a first attempt,
// so retries wait for the limiter too, and each attempt's outcome feeds
// it. AdaptiveMode is used only as that limiter; the embedded retry
// policy (attempts, backoff, quota) is whatever the caller chose, so a
// test's shortened backoff still applies.
type Paced struct {
	aws.RetryerV2

	mu       sync.Mutex
	limiters map[string]attemptLimiter
	// newLimiter makes an operation's limiter; tests replace it.
	newLimiter func() attemptLimiter
}

// attemptLimiter hands out attempt tokens and learns from each attempt's
// outcome (the error given to the release function): retry.AdaptiveMode.
type attemptLimiter interface {
	GetAttemptToken(ctx context.Context) (release func(error) error, err error)
}

var _ attemptLimiter = (*retry.AdaptiveMode)(nil)
var _ aws.RetryerV2 = (*Paced)(nil)

// NewPaced paces the attempts of policy.
func NewPaced(policy aws.RetryerV2) *Paced {
	return &Paced{RetryerV2: policy, limiters: map[string]attemptLimiter{}, newLimiter: newAdaptiveLimiter}
}

// newAdaptiveLimiter is AdaptiveMode with the retry quota of its inner
// standard retryer off; its retry decisions are never asked.
func newAdaptiveLimiter() attemptLimiter {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) { so.RateLimiter = ratelimit.None })
	})
}

func (p *Paced) limiter(op string) attemptLimiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.limiters[op]
	if l == nil {
		l = p.newLimiter()
		p.limiters[op] = l
	}
	return l
}

// GetAttemptToken waits for the operation's limiter, or spends the token
// Reserve took for it, then takes the retry policy's own token. The
// release function tells the limiter how the attempt went.
func (p *Paced) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	op := middleware.GetOperationName(ctx)
	paced, ok := reserved(ctx, op)
	if !ok {
		var err error
		if paced, err = p.limiter(op).GetAttemptToken(ctx); err != nil {
			return nil, fmt.Errorf("%s: wait for the adaptive rate limit: %w", op, err)
		}
	}
	own, err := p.RetryerV2.GetAttemptToken(ctx)
	if err != nil {
		return nil, err
	}
	return func(err error) error { return errors.Join(paced(err), own(err)) }, nil
}

// reservation is an attempt token Reserve took for op.
type reservation struct {
	op      string
	release func(error) error
	spent   atomic.Bool
}

type reservationKey struct{}

// reserved spends the reservation ctx holds for op, once.
func reserved(ctx context.Context, op string) (func(error) error, bool) {
	r, _ := ctx.Value(reservationKey{}).(*reservation)
	if r == nil || r.op != op || r.spent.Swap(true) {
		return nil, false
	}
	return r.release, true
}

// Reserve waits for op's limiter and takes an attempt token now, before
// the caller does what must come right before op: the first attempt of op
// made with the returned context spends it without waiting again. An
// unspent token is not given back (AdaptiveMode has no refund); it costs
// a slot only while op is being throttled, since the limiter is
// unrestricted until the first throttling error.
func (p *Paced) Reserve(ctx context.Context, op string) (context.Context, error) {
	release, err := p.limiter(op).GetAttemptToken(ctx)
	if err != nil {
		return ctx, fmt.Errorf("%s: reserve the adaptive rate limit: %w", op, err)
	}
	return context.WithValue(ctx, reservationKey{}, &reservation{op: op, release: release}), nil
}
