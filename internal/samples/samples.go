// Package samples reads the EventBridge samples in events/ for tests in any
// package of the module.
package samples

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Dir finds events/ by walking up from the working directory (a test's
// package directory) to the module root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "events"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("samples: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Read returns one sample, e.g. Read(t, "create-repository.json").
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// All returns every sample in file name order.
func All(tb testing.TB) [][]byte {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("samples: no %s/*.json (err %v)", dir, err)
	}
	sort.Strings(files)
	out := make([][]byte, len(files))
	for i, f := range files {
		if out[i], err = os.ReadFile(f); err != nil {
			tb.Fatal(err)
		}
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
