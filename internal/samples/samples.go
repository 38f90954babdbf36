// Package samples reads the EventBridge samples embedded from events/ for
// tests in any package of the module.
package samples

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/events"
)

// Read returns one sample, e.g. Read(t, "create-repository.json").
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := fs.ReadFile(events.FS, name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// All returns every sample in file name order.
func All(tb testing.TB) [][]byte {
	tb.Helper()
	// fs.Glob lists names in order.
	files, err := fs.Glob(events.FS, "*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("samples: no events/*.json (err %v)", err)
	}
	out := make([][]byte, len(files))
	for i, f := range files {
		out[i] = Read(tb, f)
	}
	return out
}

// WithPolicyText returns a SetRepositoryPolicy sample rewritten to carry
// written as the policy asked for and stored, as CloudTrail records the
// write a test made: the function judges its own writes by that text.
func WithPolicyText(tb testing.TB, payload []byte, written string) []byte {
	tb.Helper()
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		tb.Fatal(err)
	}
	detail, _ := ev["detail"].(map[string]any)
	for _, part := range []string{"requestParameters", "responseElements"} {
		fields, ok := detail[part].(map[string]any)
		if !ok {
			tb.Fatalf("samples: event has no detail.%s to carry a policy", part)
		}
		fields["policyText"] = written
	}
	out, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
