package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"golang.org/x/time/rate"
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

// perHour refills a bucket once an hour: no token comes back while a test
// runs, so an empty bucket fails any wait at once.
const perHour = 1.0 / 3600

// TestBuckets spends each operation's one token and checks which bucket
// it came from. The buckets refill once an hour, so no token comes back
// while the test runs and nothing depends on the clock.
func TestBuckets(t *testing.T) {
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
	tests := []struct {
		read, write         float64
		wantRead, wantWrite rate.Limit
	}{
		{40, 5, 40, 5},
		{0, 0, rate.Inf, rate.Inf}, // no ceiling
		{0, 2.5, rate.Inf, 2.5},
	}
	for _, tt := range tests {
		e := New(&counting{}, tt.read, tt.write)
		if e.Read.Limit() != tt.wantRead || e.Write.Limit() != tt.wantWrite || e.Read.Burst() != 1 || e.Write.Burst() != 1 {
			t.Errorf("New(%v, %v): read %v/s burst %d, write %v/s burst %d; want %v and %v per second, bursts of 1",
				tt.read, tt.write, e.Read.Limit(), e.Read.Burst(), e.Write.Limit(), e.Write.Burst(), tt.wantRead, tt.wantWrite)
		}
	}
}

// TestReserveWrite: the token taken before the read is what the write
// spends, with no second wait; unspent, it goes back to the bucket. The
// bucket refills once an hour, so an empty one fails any wait at once.
func TestReserveWrite(t *testing.T) {
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

// reserver is a retry policy that reserves attempt tokens: it counts them
// and marks the context, or fails with err.
type reserver struct {
	ops []string
	err error
}

type reservedKey struct{}

func (r *reserver) Reserve(ctx context.Context, op string) (context.Context, error) {
	if r.err != nil {
		return ctx, r.err
	}
	r.ops = append(r.ops, op)
	return context.WithValue(ctx, reservedKey{}, op), nil
}

// TestReserveWriteTakesTheAttemptToken: with a pacing retry policy the
// write's attempt token is taken before the read too, and the context the
// read and the write are made with carries it; when it cannot be taken,
// the ceiling's token goes back and the error says why.
func TestReserveWriteTakesTheAttemptToken(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantErr    string
		wantTokens float64
	}{
		{name: "reserved", wantTokens: 0},
		{name: "the retry policy refuses", err: context.Canceled, wantErr: "context canceled", wantTokens: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts := &reserver{err: tt.err}
			e := New(&counting{calls: map[string]int{}}, 0, perHour)
			e.Attempts = attempts
			held, release, err := e.ReserveWrite(context.Background())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got := held.Value(reservedKey{}); got != "SetRepositoryPolicy" || len(attempts.ops) != 1 {
					t.Errorf("reserved %v, context carries %v; want one SetRepositoryPolicy token in the context", attempts.ops, got)
				}
				defer release()
			}
			if got := e.Write.Tokens(); got < tt.wantTokens-0.01 || got > tt.wantTokens+0.01 {
				t.Errorf("the write bucket holds %.3f tokens, want %v", got, tt.wantTokens)
			}
		})
	}
}
