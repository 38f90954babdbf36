package esm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
)

// functionTimeout is the deadline the bootstrap sees; nothing waits for it.
const functionTimeout = 5 * time.Minute

// syncBuffer collects the logs of the bootstrap processes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// barrier answers its first n requests once all n are in: the function
// calls it from inside an invocation, so n answers prove n invocations ran
// in the function at once.
func barrier(t *testing.T, n int) string {
	t.Helper()
	var (
		mu      sync.Mutex
		arrived int
		full    = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		k := arrived
		mu.Unlock()
		if k == n {
			close(full)
		}
		if k <= n {
			select {
			case <-full:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBootstrapThroughRuntimeAPI runs the mapping on a real bootstrap
// built with aws-lambda-go (testdata/fn), two processes polling one
// runtimeapi.Server as two concurrent execution environments.
func TestBootstrapThroughRuntimeAPI(t *testing.T) {
	bin, err := runtimeapi.BuildBootstrap("./testdata/fn", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := newQueue(t, 2, nil)
	rt, err := runtimeapi.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	logs := &syncBuffer{}
	env := append(server.Env(), "QUEUE_URL="+q.url, "BARRIER_URL="+barrier(t, 2))
	for range 2 {
		cmd, err := rt.Run(bin, env, logs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
	})
	m := q.mapping(RuntimeInvoke(rt, functionTimeout), true)
	m.BatchSize = 2
	m.MaximumConcurrency = 2
	ctx := context.Background()

	// The first two batches hold the four barrier records: each waits in
	// the function for the other. "fail" is reported at each of its two
	// receives, then SQS moves it to the DLQ; "spawn" sends one more "ok",
	// consumed too.
	ids := q.send(t, "barrier", "barrier", "barrier", "barrier", "fail", "spawn", "ok")
	got, err := m.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got.Invocations = 0 // how the spawned message is batched depends on timing
	if d := cmp.Diff(Stats{Records: 9, Deleted: 7, Returned: 2, ItemFailures: 2}, got); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}

	// A function error, through the Runtime API's /error.
	ids = append(ids, q.send(t, "error")...)
	got, err = m.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Invocations: 2, Records: 2, Returned: 2, FunctionErrors: 2}, got); d != "" {
		t.Errorf("stats of the function error (-want +got):\n%s", d)
	}

	q.assertEmpty(t)
	dead := q.deadLetters(t)
	if d := cmp.Diff(map[string]string{ids[4]: "fail", ids[7]: "error"}, dead); d != "" {
		t.Errorf("dead-letter queue (-want +got):\n%s", d)
	}
}

// TestHandlerInvoke: a handler's response is passed on as the runtime
// would marshal it, after seen; its error is a function error.
func TestHandlerInvoke(t *testing.T) {
	var seen []events.SQSEventResponse
	invoke := HandlerInvoke(func(_ context.Context, payload json.RawMessage) (events.SQSEventResponse, error) {
		if string(payload) == `"fail"` {
			return events.SQSEventResponse{}, errors.New("boom")
		}
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "id1"}}}, nil
	}, func(r events.SQSEventResponse) { seen = append(seen, r) })

	resp, functionErr, err := invoke(context.Background(), []byte(`"ok"`))
	if err != nil || functionErr || string(resp) != `{"batchItemFailures":[{"itemIdentifier":"id1"}]}` {
		t.Errorf("success: %s %v %v", resp, functionErr, err)
	}
	resp, functionErr, err = invoke(context.Background(), []byte(`"fail"`))
	if err != nil || !functionErr || resp != nil {
		t.Errorf("handler error: %s %v %v, want a function error", resp, functionErr, err)
	}
	if len(seen) != 1 {
		t.Errorf("seen %d responses, want the one that succeeded", len(seen))
	}
}
