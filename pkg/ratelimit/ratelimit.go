// Package ratelimit paces ECR calls on the client side. ECR publishes no
// rate quota for GetRepositoryPolicy, SetRepositoryPolicy or
// DescribeRepositories, so a backfill over thousands of repositories paces
// itself with token buckets and leaves throttling that still happens to the
// SDK's retry with backoff.
package ratelimit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"golang.org/x/time/rate"
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

// ECR passes reads and writes through separate token buckets.
type ECR struct {
	Client Client
	Read   *rate.Limiter
	Write  *rate.Limiter
}

// New paces client at readTPS reads and writeTPS writes per second. A
// burst of one keeps the pace even, which is what a server-side limit
// measured per second rewards.
func New(client Client, readTPS, writeTPS float64) *ECR {
	return &ECR{
		Client: client,
		Read:   rate.NewLimiter(rate.Limit(readTPS), 1),
		Write:  rate.NewLimiter(rate.Limit(writeTPS), 1),
	}
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

// SetRepositoryPolicy waits for a write token, then calls ECR.
func (e *ECR) SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	if err := wait(ctx, e.Write, "SetRepositoryPolicy"); err != nil {
		return nil, err
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
