package awsconfig

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
)

// fakeLimiter hands out tokens at once, or fails with err, and keeps
// whether each attempt it paced was throttled.
type fakeLimiter struct {
	tokens    int
	throttled []bool
	err       error
}

func (f *fakeLimiter) GetAttemptToken(context.Context) (func(error) error, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.tokens++
	return func(err error) error {
		f.throttled = append(f.throttled, retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary)
		return nil
	}, nil
}

// fakePaced is Paced over NewRetryer with a fakeLimiter per operation.
func fakePaced(err error) *Paced {
	p := NewPaced(NewRetryer(time.Millisecond))
	p.newLimiter = func() attemptLimiter { return &fakeLimiter{err: err} }
	return p
}

// attempt makes one attempt of op with ctx, ending in outcome.
func attempt(t *testing.T, p *Paced, ctx context.Context, op string, outcome error) {
	t.Helper()
	release, err := p.GetAttemptToken(middleware.WithOperationName(ctx, op))
	if err != nil {
		t.Fatal(err)
	}
	if err := release(outcome); err != nil {
		t.Fatal(err)
	}
}

// tokens is how many tokens each operation's limiter handed out, and which
// of the attempts they paced were throttled.
func tokens(p *Paced) map[string]fakeLimiter {
	got := map[string]fakeLimiter{}
	for op, l := range p.limiters {
		got[op] = *l.(*fakeLimiter)
	}
	return got
}

// TestPacedPerOperation: each operation has its own limiter, shared by
// every attempt of it, which learns whether each attempt was throttled;
// another operation's throttling does not reach it.
func TestPacedPerOperation(t *testing.T) {
	p := fakePaced(nil)
	ctx := context.Background()
	attempt(t, p, ctx, "GetRepositoryPolicy", nil)
	attempt(t, p, ctx, "SetRepositoryPolicy", errThrottled{})
	attempt(t, p, ctx, "SetRepositoryPolicy", nil)
	attempt(t, p, ctx, "GetRepositoryPolicy", errors.New("RepositoryPolicyNotFoundException"))
	want := map[string]fakeLimiter{
		"GetRepositoryPolicy": {tokens: 2, throttled: []bool{false, false}},
		"SetRepositoryPolicy": {tokens: 2, throttled: []bool{true, false}},
	}
	if d := cmp.Diff(want, tokens(p), cmp.AllowUnexported(fakeLimiter{})); d != "" {
		t.Errorf("limiters (-want +got):\n%s", d)
	}
}

// TestPacedReserve: a reserved token is spent by the first attempt of its
// operation made with the context, which does not ask the limiter again;
// a retry, or another operation, waits for a token of its own.
func TestPacedReserve(t *testing.T) {
	type step struct {
		op      string
		outcome error
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string]fakeLimiter
	}{
		{"the first attempt spends the reservation", []step{{"SetRepositoryPolicy", nil}},
			map[string]fakeLimiter{"SetRepositoryPolicy": {tokens: 1, throttled: []bool{false}}}},
		{"its retry waits for a token", []step{{"SetRepositoryPolicy", errThrottled{}}, {"SetRepositoryPolicy", nil}},
			map[string]fakeLimiter{"SetRepositoryPolicy": {tokens: 2, throttled: []bool{true, false}}}},
		{"the read before it does not spend it", []step{{"GetRepositoryPolicy", nil}, {"SetRepositoryPolicy", nil}},
			map[string]fakeLimiter{"GetRepositoryPolicy": {tokens: 1, throttled: []bool{false}}, "SetRepositoryPolicy": {tokens: 1, throttled: []bool{false}}}},
		{"unspent, it is not given back", nil,
			map[string]fakeLimiter{"SetRepositoryPolicy": {tokens: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakePaced(nil)
			ctx, err := p.Reserve(context.Background(), "SetRepositoryPolicy")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				attempt(t, p, ctx, s.op, s.outcome)
			}
			if d := cmp.Diff(tt.want, tokens(p), cmp.AllowUnexported(fakeLimiter{})); d != "" {
				t.Errorf("limiters (-want +got):\n%s", d)
			}
		})
	}
}

func TestPacedWaitFails(t *testing.T) {
	p := fakePaced(context.Canceled)
	ctx := middleware.WithOperationName(context.Background(), "SetRepositoryPolicy")
	if _, err := p.GetAttemptToken(ctx); err == nil || err.Error() != "SetRepositoryPolicy: wait for the adaptive rate limit: context canceled" {
		t.Errorf("GetAttemptToken error %v", err)
	}
	if _, err := p.Reserve(ctx, "SetRepositoryPolicy"); err == nil || err.Error() != "SetRepositoryPolicy: reserve the adaptive rate limit: context canceled" {
		t.Errorf("Reserve error %v", err)
	}
}

// TestPacedSeesThrottling calls ECR through the fault proxy, which
// throttles the first two SetRepositoryPolicy attempts the way ECR
// answers: every attempt, retries included, waits for the operation's
// limiter, and the limiter learns that the SDK classifies those answers as
// throttling.
func TestPacedSeesThrottling(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{}`) }))
	defer backend.Close()
	proxy, err := faultproxy.Start(backend.URL, map[string]faultproxy.Rule{"SetRepositoryPolicy": {FailFirst: 2, Fault: faultproxy.Throttle}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	p := fakePaced(nil)
	client := ecr.New(ecr.Options{BaseEndpoint: aws.String(proxy.URL), Region: "us-east-1", Retryer: p,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := client.SetRepositoryPolicy(context.Background(), &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String("team-a/web"), PolicyText: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	want := map[string]fakeLimiter{"SetRepositoryPolicy": {tokens: 3, throttled: []bool{true, true, false}}}
	if d := cmp.Diff(want, tokens(p), cmp.AllowUnexported(fakeLimiter{})); d != "" {
		t.Errorf("limiters (-want +got):\n%s", d)
	}
}
