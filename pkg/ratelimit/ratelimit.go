// Package ratelimit holds ECR calls to optional ceilings, reads and writes
// each in a token bucket, and reserves a write's turn before the read it
// depends on. The pace itself is adaptive and set by the SDK client's
// retry policy (awsconfig.Paced): ECR publishes no rate quota for
// GetRepositoryPolicy, SetRepositoryPolicy or DescribeRepositories, so no
// fixed rate can be right; a ceiling is for an operator who wants to leave
// part of the account's quota to others.
package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"golang.org/x/time/rate"

	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
)

// Client is the ECR API the enforcer and backfill call.
type Client interface {
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, opts ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
}

var _ Client = (*ecr.Client)(nil)
var _ Client = (*ECR)(nil)

// AttemptReserver is a retry policy that paces attempts and can take an
// operation's next attempt token ahead of the call (awsconfig.Paced).
type AttemptReserver interface {
	Reserve(ctx context.Context, op string) (context.Context, error)
}

var _ AttemptReserver = (*awsconfig.Paced)(nil)

// ECR passes reads and writes through separate token buckets.
type ECR struct {
	Client Client
	Read   *rate.Limiter
	Write  *rate.Limiter
	// Attempts, when set, is Client's retry policy: ReserveWrite takes the
	// write's attempt token from it too.
	Attempts AttemptReserver
}

// New holds client to readTPS reads and writeTPS writes per second; 0 is
// no ceiling. A burst of one keeps the pace even, which is what a
// server-side limit measured per second rewards.
func New(client Client, readTPS, writeTPS float64) *ECR {
	return &ECR{Client: client, Read: ceiling(readTPS), Write: ceiling(writeTPS)}
}

func ceiling(tps float64) *rate.Limiter {
	if tps == 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(tps), 1)
}

func wait(ctx context.Context, l *rate.Limiter, op string) error {
	if err := l.Wait(ctx); err != nil {
		return fmt.Errorf("%s: wait for rate limit: %w", op, err)
	}
	return nil
}

// GetRepositoryPolicy waits for a read token, then calls ECR.
func (e *ECR) GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	if err := wait(ctx, e.Read, "GetRepositoryPolicy"); err != nil {
		return nil, err
	}
	return e.Client.GetRepositoryPolicy(ctx, in, opts...)
}

// heldKey marks a context that holds a write token ReserveWrite took.
type heldKey struct{}

// ReserveWrite waits for a write token and takes it, before the caller
// reads the policy it may write: read, decide and write then happen back to
// back, with no wait for a token between them in which a team's own
// SetRepositoryPolicy would be overwritten. The first SetRepositoryPolicy
// made with the returned context spends the token without waiting again;
// with Attempts set, its first attempt likewise spends an attempt token
// taken here.
//
// release gives the ceiling's token back if no write spent it, as of the
// moment it was taken (Reservation.CancelAt), so a compliant repository
// costs no write budget when no other write was reserved meanwhile; a
// token a later reservation already counted on stays spent, as
// x/time/rate cannot move that reservation earlier. Call it when the
// repository is done.
func (e *ECR) ReserveWrite(ctx context.Context) (context.Context, func(), error) {
	taken := time.Now()
	r := e.Write.ReserveN(taken, 1)
	if !r.OK() {
		return ctx, nil, fmt.Errorf("SetRepositoryPolicy: reserve rate limit: burst %d", e.Write.Burst())
	}
	if d := r.DelayFrom(taken); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			r.Cancel()
			return ctx, nil, fmt.Errorf("SetRepositoryPolicy: wait for rate limit: %w", ctx.Err())
		}
	}
	held := &atomic.Bool{}
	held.Store(true)
	release := func() {
		// A token SetRepositoryPolicy spent is not given back.
		if held.Swap(false) {
			r.CancelAt(taken)
		}
	}
	if e.Attempts != nil {
		var err error
		if ctx, err = e.Attempts.Reserve(ctx, "SetRepositoryPolicy"); err != nil {
			release()
			return ctx, nil, err
		}
	}
	return context.WithValue(ctx, heldKey{}, held), release, nil
}

// SetRepositoryPolicy waits for a write token, then calls ECR; with a
// context from ReserveWrite it spends the token reserved there instead.
func (e *ECR) SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	held, _ := ctx.Value(heldKey{}).(*atomic.Bool)
	if held == nil || !held.Swap(false) {
		if err := wait(ctx, e.Write, "SetRepositoryPolicy"); err != nil {
			return nil, err
		}
	}
	return e.Client.SetRepositoryPolicy(ctx, in, opts...)
}

// DescribeRepositories waits for a read token, then calls ECR.
func (e *ECR) DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	if err := wait(ctx, e.Read, "DescribeRepositories"); err != nil {
		return nil, err
	}
	return e.Client.DescribeRepositories(ctx, in, opts...)
}

// ListTagsForResource waits for a read token, then calls ECR.
func (e *ECR) ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, opts ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error) {
	if err := wait(ctx, e.Read, "ListTagsForResource"); err != nil {
		return nil, err
	}
	return e.Client.ListTagsForResource(ctx, in, opts...)
}
