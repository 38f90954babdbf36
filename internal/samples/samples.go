// Package samples reads the EventBridge samples embedded from events/ for
// tests in any package of the module.
package samples

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
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

// Relocate is sample as if it had happened in account and region (""
// keeps the sample's): every mention of the sample's account and region,
// in the envelope, the CloudTrail record and its ARNs, is replaced, as a
// member account's rule forwards it to an organisation's hub.
func Relocate(sample []byte, account, region string) ([]byte, error) {
	var envelope struct{ Account, Region string }
	if err := json.Unmarshal(sample, &envelope); err != nil || envelope.Account == "" || envelope.Region == "" {
		return nil, fmt.Errorf("samples: no account and region to move (%v): %s", err, sample)
	}
	text := string(sample)
	if account != "" {
		text = strings.ReplaceAll(text, envelope.Account, account)
	}
	if region != "" {
		text = strings.ReplaceAll(text, envelope.Region, region)
	}
	var moved struct{ Account, Region string }
	if err := json.Unmarshal([]byte(text), &moved); err != nil ||
		moved.Account != cmp.Or(account, envelope.Account) || moved.Region != cmp.Or(region, envelope.Region) {
		return nil, fmt.Errorf("samples: moved to account %q region %q, the sample reads %+v (%v)", account, region, moved, err)
	}
	return []byte(text), nil
}

// Relocated is Relocate for a test, which it fails when the sample cannot
// be moved.
func Relocated(tb testing.TB, sample []byte, account, region string) []byte {
	tb.Helper()
	out, err := Relocate(sample, account, region)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
