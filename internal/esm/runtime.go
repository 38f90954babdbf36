package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
)

// RuntimeInvoke invokes the real bootstrap processes polling s, each
// invocation with timeout as the deadline the function sees. Run as many
// processes as MaximumConcurrency, each an execution environment: s hands
// each invocation to one poll, so with fewer processes invocations wait
// for a free one.
//
// The deadline is not enforced: Lambda would stop a function that outlives
// it and count a function error, and the emulator would have to watch the
// clock to do the same. A handler that respects its context (aws-lambda-go
// cancels it at the deadline) returns an error then, which is the function
// error Lambda reports.
func RuntimeInvoke(s *runtimeapi.Server, timeout time.Duration) Invoke {
	return func(ctx context.Context, payload []byte) ([]byte, bool, error) {
		res, err := s.Invoke(ctx, payload, timeout)
		if err != nil {
			return nil, false, fmt.Errorf("runtime api: %w", err)
		}
		if res.Error != nil {
			return nil, true, nil
		}
		return res.Response, false, nil
	}
}

// HandlerInvoke invokes an in-process handler, as the function's
// Handle: its response is marshalled as the runtime would, and an error
// is a function error. seen, when set, gets every response first, for the
// test to collect what the function did.
func HandlerInvoke[R any](handle func(context.Context, json.RawMessage) (R, error), seen func(R)) Invoke {
	return func(ctx context.Context, payload []byte) ([]byte, bool, error) {
		res, err := handle(ctx, payload)
		if err != nil {
			return nil, true, nil
		}
		if seen != nil {
			seen(res)
		}
		out, err := json.Marshal(res)
		if err != nil {
			return nil, false, fmt.Errorf("marshal the response: %w", err)
		}
		return out, false, nil
	}
}
