package faultmatrix

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
)

// queue keeps the payloads the function queues for itself, for the test
// to deliver as Lambda would.
type queue struct{ payloads [][]byte }

func (q *queue) Continue(_ context.Context, payload []byte) error {
	q.payloads = append(q.payloads, payload)
	return nil
}

// TestFleetRunRetriesFailures runs a parameter change over a fleet too big
// for its first invocation while policy writes are denied, and delivers
// each continuation: the repositories that failed travel with the run, the
// last invocation enforces them once more, and if any still fail it
// returns an error naming them, which Lambda retries without starting a
// new run.
func TestFleetRunRetriesFailures(t *testing.T) {
	const size, firstCovers = 6, 3
	repos := make([]fleet.Repo, size)
	for i := range repos {
		repos[i].Name = fmt.Sprintf("fleet/r%d", i)
	}
	tests := []struct {
		name  string
		rules map[string]fp.Rule
		// wantStillFailing is how many repositories the last invocation
		// names; 0 means it succeeds.
		wantStillFailing int
	}{
		{"first write denied: retried at the end", once("SetRepositoryPolicy", fp.AccessDenied), 0},
		{"every write denied: the last invocation fails", always("SetRepositoryPolicy", fp.AccessDenied), size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.rules, repos...)
			r.h = newHandler(t, r.proxy.URL, instantTimeouts(), "BACKFILL_CONCURRENCY=1", "EXEMPT_TAG=", "APPLY_TO_EXISTING_REPOSITORIES=true",
				"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole")
			q := &queue{}
			r.h.Continue = q
			// The first invocation stops, as at its deadline, once it has
			// read firstCovers policies: one repository at a time, so it
			// covers exactly those and leaves the rest to its continuation.
			r.h.Stop = func() bool { return r.proxy.Stats("GetRepositoryPolicy").Calls >= firstCovers }
			first, err := r.h.Handle(context.Background(), samples.Read(t, "parameter-change.json"))
			if err != nil {
				t.Fatalf("first invocation: %v", err)
			}
			if s := first.Summary; s == nil || s.Scanned != firstCovers || s.Complete {
				t.Fatalf("first invocation: summary %+v; want %d scanned, not complete", s, firstCovers)
			}
			if len(q.payloads) != 1 {
				t.Fatalf("first invocation queued %d continuations, want 1", len(q.payloads))
			}
			var next handler.Continuation
			if err := json.Unmarshal(q.payloads[0], &next); err != nil {
				t.Fatal(err)
			}
			if len(next.Failed) == 0 {
				t.Fatalf("continuation %s carries no failed repository", q.payloads[0])
			}

			// Deliver each queued payload, with nothing to stop them: the
			// first covers the rest of the fleet and queues the run's last
			// invocation, which retries the failed repositories.
			r.h.Stop = nil
			for delivered := 0; err == nil && delivered < len(q.payloads); delivered++ {
				_, err = r.handle(q.payloads[delivered])
			}
			if len(q.payloads) != 2 {
				t.Fatalf("the run queued %d invocations, want 2: the rest of the fleet, then the retry", len(q.payloads))
			}
			var last handler.Continuation
			if jerr := json.Unmarshal(q.payloads[1], &last); jerr != nil || !last.RetryFailed || len(last.Failed) == 0 {
				t.Fatalf("last payload %s: want retryFailed with the failed repositories", q.payloads[1])
			}
			if tt.wantStillFailing == 0 {
				if err != nil {
					t.Fatalf("last invocation: %v", err)
				}
				for _, repo := range repos {
					r.wantCompliant(t, repo.Name)
				}
				return
			}
			want := fmt.Sprintf("backfill complete but %d repositories still fail: ", tt.wantStillFailing)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("last invocation error = %v, want %q…", err, want)
			}
			named := strings.Split(strings.TrimPrefix(err.Error(), want), ", ")
			slices.Sort(named)
			for i, repo := range repos {
				if i >= len(named) || named[i] != repo.Name {
					t.Errorf("error names %v, want every repository", named)
					break
				}
				r.wantUntouched(t, repo)
			}
			// Lambda's async retry of the last payload fails the same way
			// and starts nothing new.
			if _, again := r.handle(q.payloads[1]); again == nil || again.Error() != err.Error() {
				t.Errorf("retry of the last payload: %v, want %v", again, err)
			}
			if len(q.payloads) != 2 {
				t.Errorf("retry of the last payload queued %s", q.payloads[2:])
			}
		})
	}
}
