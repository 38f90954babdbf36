package faultmatrix

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
)

// TestCallsEndBeforeLambdaDeadline gives an event a short Lambda deadline
// while every SetRepositoryPolicy hangs far longer, and keeps the
// production attempt timeout (10 s), so only the deadline can end the
// call. The handler cuts app.Reserve from the Lambda deadline for every
// call: the invocation returns its error while Lambda still waits for it,
// instead of being killed as timed out, and Lambda's retry keeps the event.
//
// Its subject is real time, the Lambda deadline, so it waits for one: the
// invocation lasts 1.5 s, the time its deadline leaves after the reserve.
func TestCallsEndBeforeLambdaDeadline(t *testing.T) {
	r := newRig(t, map[string]fp.Rule{"SetRepositoryPolicy": {FaultRate: 1, Fault: fp.Slow, SlowBy: time.Minute}},
		fleet.Repo{Name: "team-a/web"})
	r.h = newHandler(t, r.proxy.URL, awsconfig.HTTPClient(awsconfig.AttemptTimeout))
	lambdaCtx, cancel := context.WithTimeout(context.Background(), app.Reserve+1500*time.Millisecond)
	defer cancel()

	_, err := r.h.Handle(lambdaCtx, samples.Read(t, "create-repository.json"))
	if lambdaCtx.Err() != nil {
		t.Errorf("the invocation outlived its Lambda deadline: Lambda would have killed it")
	}
	const prefix = "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: enforce team-a/web: "
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error = %v; want %q… wrapping context.DeadlineExceeded", err, prefix)
	}
	r.wantUntouched(t, fleet.Repo{Name: "team-a/web"})
}
