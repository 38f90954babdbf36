package enforcer

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTally(t *testing.T) {
	tests := []struct {
		name    string
		actions []Action
		want    Tally
	}{
		{name: "none"},
		{name: "one of each", actions: []Action{Applied, WouldApply, Unchanged, Skipped, Exempt, Failed},
			want: Tally{Applied: 1, WouldApply: 1, Unchanged: 1, Skipped: 1, Exempt: 1, Failed: 1}},
		{name: "repeats", actions: []Action{Failed, Applied, Failed, Unchanged, Failed},
			want: Tally{Applied: 1, Unchanged: 1, Failed: 3}},
		{name: "an action without a counter is skipped", actions: []Action{"", Skipped}, want: Tally{Skipped: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tally
			for _, a := range tt.actions {
				got.Count(a)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Count (-want +got):\n%s", diff)
			}
			// Adding a tally to itself doubles every counter.
			sum := got
			sum.Add(got)
			double := Tally{Applied: 2 * got.Applied, WouldApply: 2 * got.WouldApply, Unchanged: 2 * got.Unchanged,
				Skipped: 2 * got.Skipped, Exempt: 2 * got.Exempt, Failed: 2 * got.Failed}
			if diff := cmp.Diff(double, sum); diff != "" {
				t.Errorf("Add (-want +got):\n%s", diff)
			}
		})
	}
}
