package pool

import (
	"slices"
	"sync"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		items int
		limit int
		// stopAfter makes stop report true from its stopAfter+1st call;
		// -1 passes a nil stop.
		stopAfter   int
		wantStarted int
		wantMax     int
	}{
		{name: "all, four at once", items: 12, limit: 4, stopAfter: -1, wantStarted: 12, wantMax: 4},
		{name: "a limit below one runs one at a time", items: 3, limit: 0, stopAfter: -1, wantStarted: 3, wantMax: 1},
		{name: "more workers than items", items: 3, limit: 8, stopAfter: -1, wantStarted: 3, wantMax: 3},
		{name: "stop after five", items: 12, limit: 4, stopAfter: 5, wantStarted: 5, wantMax: 4},
		{name: "stop at once", items: 12, limit: 4, stopAfter: 0, wantStarted: 0},
		{name: "stop never reached", items: 3, limit: 2, stopAfter: 7, wantStarted: 3, wantMax: 2},
		{name: "no items", items: 0, limit: 4, stopAfter: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := make([]int, tt.items)
			for i := range items {
				items[i] = i * 10
			}
			var stop func() bool
			if tt.stopAfter >= 0 {
				asked := 0
				stop = func() bool { asked++; return asked > tt.stopAfter }
			}
			var (
				mu               sync.Mutex
				seen             []int
				inFlight, most   int
				finished         int
				wantAtOnce       = min(tt.wantStarted, max(tt.limit, 1))
				full             = make(chan struct{})
				waiting, entered int
			)
			started := Run(items, tt.limit, stop, func(i, item int) {
				mu.Lock()
				if item != items[i] {
					t.Errorf("fn(%d, %d): item is not items[%d]", i, item, i)
				}
				seen = append(seen, i)
				inFlight++
				most = max(most, inFlight)
				entered++
				// The first wantAtOnce calls wait until all of them are in
				// flight: a pool that ran fewer at once would never let
				// them go (the test would time out).
				first := entered <= wantAtOnce
				if first {
					waiting++
					if waiting == wantAtOnce {
						close(full)
					}
				}
				mu.Unlock()
				if first {
					<-full
				}
				mu.Lock()
				inFlight--
				finished++
				mu.Unlock()
			})
			if started != tt.wantStarted {
				t.Errorf("started %d, want %d", started, tt.wantStarted)
			}
			if finished != started {
				t.Errorf("%d calls finished before Run returned, want all %d started", finished, started)
			}
			slices.Sort(seen)
			for i, got := range seen {
				if got != i {
					t.Fatalf("items called %v, want exactly the first %d", seen, started)
				}
			}
			if len(seen) != started {
				t.Errorf("%d calls, want %d", len(seen), started)
			}
			if most != tt.wantMax {
				t.Errorf("at most %d at once, want %d", most, tt.wantMax)
			}
		})
	}
}
