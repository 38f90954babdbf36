package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// counting answers every call and counts them by operation.
type counting struct{ calls map[string]int }

func (c *counting) GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	c.calls["GetRepositoryPolicy"]++
	return &ecr.GetRepositoryPolicyOutput{}, nil
}

func (c *counting) SetRepositoryPolicy(context.Context, *ecr.SetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	c.calls["SetRepositoryPolicy"]++
	return &ecr.SetRepositoryPolicyOutput{}, nil
}

func (c *counting) DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	c.calls["DescribeRepositories"]++
	return &ecr.DescribeRepositoriesOutput{}, nil
}

func (c *counting) ListTagsForResource(context.Context, *ecr.ListTagsForResourceInput, ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error) {
	c.calls["ListTagsForResource"]++
	return &ecr.ListTagsForResourceOutput{}, nil
}

var calls = map[string]func(context.Context, *ECR) error{
	"GetRepositoryPolicy": func(ctx context.Context, e *ECR) error {
		_, err := e.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{})
		return err
	},
	"SetRepositoryPolicy": func(ctx context.Context, e *ECR) error {
		_, err := e.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{})
		return err
	},
	"DescribeRepositories": func(ctx context.Context, e *ECR) error {
		_, err := e.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
		return err
	},
	"ListTagsForResource": func(ctx context.Context, e *ECR) error {
		_, err := e.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{})
		return err
	},
}

// TestBuckets spends each operation's one token and checks which bucket
// it came from. The buckets refill once an hour, so no token comes back
// while the test runs and nothing depends on the clock.
func TestBuckets(t *testing.T) {
	const perHour = 1.0 / 3600
	tests := []struct {
		op    string
		write bool
		// other is an operation of the other bucket.
		other string
	}{
		{op: "GetRepositoryPolicy", other: "SetRepositoryPolicy"},
		{op: "DescribeRepositories", other: "SetRepositoryPolicy"},
		{op: "ListTagsForResource", other: "SetRepositoryPolicy"},
		{op: "SetRepositoryPolicy", write: true, other: "GetRepositoryPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			client := &counting{calls: map[string]int{}}
			e := New(client, perHour, perHour)
			spent, kept := e.Read, e.Write
			if tt.write {
				spent, kept = e.Write, e.Read
			}
			if err := calls[tt.op](context.Background(), e); err != nil {
				t.Fatal(err)
			}
			if got := spent.Tokens(); got > 0.01 {
				t.Errorf("%s left %.3f tokens in its bucket, want it spent", tt.op, got)
			}
			if got := kept.Tokens(); got != 1 {
				t.Errorf("%s took from the other bucket: %.3f tokens left, want 1", tt.op, got)
			}
			// The bucket is empty: the next call would wait past any
			// deadline, so it fails at once and never reaches ECR.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := calls[tt.op](ctx, e)
			if want := tt.op + ": wait for rate limit: "; err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("second %s: error %v, want %q...", tt.op, err, want)
			}
			if n := client.calls[tt.op]; n != 1 {
				t.Errorf("ECR got %d %s calls, want 1", n, tt.op)
			}
			// The other bucket still has its token.
			if err := calls[tt.other](ctx, e); err != nil {
				t.Errorf("%s after %s: %v", tt.other, tt.op, err)
			}
		})
	}
}

func TestNewRates(t *testing.T) {
	e := New(&counting{}, 40, 5)
	if e.Read.Limit() != 40 || e.Write.Limit() != 5 || e.Read.Burst() != 1 || e.Write.Burst() != 1 {
		t.Errorf("read %v/s burst %d, write %v/s burst %d; want 40 and 5 per second, bursts of 1",
			e.Read.Limit(), e.Read.Burst(), e.Write.Limit(), e.Write.Burst())
	}
}

// TestReserveWrite: the token taken before the read is what the write
// spends, with no second wait; unspent, it goes back to the bucket. The
// bucket refills once an hour, so an empty one fails any wait at once.
func TestReserveWrite(t *testing.T) {
	const perHour = 1.0 / 3600
	tests := []struct {
		name  string
		write bool
		// wantTokens is the write bucket after release.
		wantTokens float64
	}{
		{name: "written: the reserved token is spent", write: true, wantTokens: 0},
		{name: "compliant: the token is given back", wantTokens: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &counting{calls: map[string]int{}}
			e := New(client, perHour, perHour)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			held, release, err := e.ReserveWrite(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Write.Tokens(); got > 0.01 {
				t.Errorf("after ReserveWrite the write bucket holds %.3f tokens, want it taken", got)
			}
			if _, err := e.GetRepositoryPolicy(held, &ecr.GetRepositoryPolicyInput{}); err != nil {
				t.Fatal(err)
			}
			if tt.write {
				if _, err := e.SetRepositoryPolicy(held, &ecr.SetRepositoryPolicyInput{}); err != nil {
					t.Fatalf("write with the reserved token: %v", err)
				}
				// A second write must wait for a token of its own.
				if _, err := e.SetRepositoryPolicy(held, &ecr.SetRepositoryPolicyInput{}); err == nil {
					t.Error("second write spent the reserved token again")
				}
			}
			release()
			release() // idempotent
			if got := e.Write.Tokens(); got < tt.wantTokens-0.01 || got > tt.wantTokens+0.01 {
				t.Errorf("after release the write bucket holds %.3f tokens, want %v", got, tt.wantTokens)
			}
			if n, want := client.calls["SetRepositoryPolicy"], map[bool]int{true: 1}[tt.write]; n != want {
				t.Errorf("ECR got %d writes, want %d", n, want)
			}
		})
	}
}
