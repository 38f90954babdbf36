package faultmatrix

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
)

// TestConcurrentDuplicateDelivery delivers the same event twice at once,
// as EventBridge's at-least-once delivery and Lambda's async retries may:
// to one function instance (two goroutines through one handler) and to
// two (two containers, each with its own clients and baseline cache).
// With gather, the proxy holds the answers to both policy reads until moto
// has served both, so both see the repository before either writes and
// both write; without it the two race freely. Either way both invocations succeed and the
// repository ends with one correct policy; a later delivery writes nothing.
func TestConcurrentDuplicateDelivery(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		seeded     string
		containers int
		gather     bool
		// wantResults is checked when both reads are gathered: each
		// delivery then writes, as neither saw the other's write.
		wantResults []enforcer.Result
	}{
		{name: "create/one container/reads overlap", event: "create-repository.json", containers: 1, gather: true,
			wantResults: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied, Reason: "repository had no policy", Diff: createDiff}}},
		{name: "create/two containers/reads overlap", event: "create-repository.json", containers: 2, gather: true,
			wantResults: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied, Reason: "repository had no policy", Diff: createDiff}}},
		{name: "drift/two containers/reads overlap", event: "set-repository-policy.json", seeded: open, containers: 2, gather: true,
			wantResults: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied, Reason: "policy differs from baseline", Diff: driftDiff}}},
		{name: "create/one container/free race", event: "create-repository.json", containers: 1},
		{name: "create/two containers/free race", event: "create-repository.json", containers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := map[string]fp.Rule{}
			if tt.gather {
				rules["GetRepositoryPolicy"] = fp.Rule{Gather: 2}
			}
			r := newRig(t, rules, fleet.Repo{Name: "team-a/web", Policy: tt.seeded})
			handlers := []*handler.Handler{r.h, r.h}
			if tt.containers == 2 {
				handlers[1] = newHandler(t, r.proxy.URL, instantTimeouts())
			}
			payload := json.RawMessage(samples.Read(t, tt.event))
			var (
				wg   sync.WaitGroup
				res  [2]handler.Response
				errs [2]error
			)
			for i, h := range handlers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res[i], errs[i] = h.Handle(context.Background(), payload)
				}()
			}
			wg.Wait()

			applied := 0
			var archived []string
			for i := range handlers {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i+1, errs[i])
				}
				if tt.wantResults != nil {
					// Each names its own archive record, checked below.
					if diff := cmp.Diff(tt.wantResults, res[i].Results, cmpopts.IgnoreFields(enforcer.Result{}, "Archive")); diff != "" {
						t.Errorf("delivery %d results (-want +got):\n%s", i+1, diff)
					}
				}
				if len(res[i].Results) != 1 {
					t.Fatalf("delivery %d: results %+v, want one", i+1, res[i].Results)
				}
				switch res[i].Results[0].Action {
				case enforcer.Applied:
					applied++
					archived = append(archived, res[i].Results[0].Archive)
				case enforcer.Unchanged:
				default:
					t.Errorf("delivery %d: %+v, want applied or unchanged", i+1, res[i].Results[0])
				}
			}
			if sets := r.proxy.Stats("SetRepositoryPolicy").Calls; applied == 0 || sets != applied {
				t.Errorf("%d deliveries applied, %d writes; want at least one, one write each", applied, sets)
			}
			// Each write was archived before it, once, as its result says.
			sort.Strings(archived)
			if diff := cmp.Diff(archived, r.archived(t)); diff != "" {
				t.Errorf("archive records (-results +bucket):\n%s", diff)
			}
			r.wantCompliant(t, "team-a/web")

			// A third delivery, after both: nothing left to do.
			before := r.proxy.Stats("SetRepositoryPolicy").Calls
			again, err := handlers[len(handlers)-1].Handle(context.Background(), payload)
			if err != nil || len(again.Results) != 1 || again.Results[0].Action != enforcer.Unchanged {
				t.Errorf("third delivery: %+v, %v; want unchanged", again.Results, err)
			}
			if n := r.proxy.Stats("SetRepositoryPolicy").Calls - before; n != 0 {
				t.Errorf("third delivery wrote %d times, want none", n)
			}
		})
	}
}
