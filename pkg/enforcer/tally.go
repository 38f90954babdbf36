package enforcer

// Tally counts results by action: the one set of counters behind a
// CLI backfill's summary and an invocation's metrics. A failure is counted from
// its Result (Action Failed), never from the error that comes with it.
type Tally struct {
	Applied    int `json:"applied"`
	WouldApply int `json:"wouldApply"`
	Unchanged  int `json:"unchanged"`
	Skipped    int `json:"skipped"`
	Exempt     int `json:"exempt"`
	Failed     int `json:"failed"`
}

// Count adds one result's action.
func (t *Tally) Count(a Action) {
	switch a {
	case Applied:
		t.Applied++
	case WouldApply:
		t.WouldApply++
	case Unchanged:
		t.Unchanged++
	case Exempt:
		t.Exempt++
	case Failed:
		t.Failed++
	default:
		t.Skipped++
	}
}

// Add folds another tally into t.
func (t *Tally) Add(o Tally) {
	t.Applied += o.Applied
	t.WouldApply += o.WouldApply
	t.Unchanged += o.Unchanged
	t.Skipped += o.Skipped
	t.Exempt += o.Exempt
	t.Failed += o.Failed
}
