package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

func TestEmit(t *testing.T) {
	const allMetrics = `"Metrics":[{"Name":"Applied","Unit":"Count"},{"Name":"Unchanged","Unit":"Count"},{"Name":"Skipped","Unit":"Count"},` +
		`{"Name":"Exempt","Unit":"Count"},{"Name":"Failed","Unit":"Count"},{"Name":"WouldApply","Unit":"Count"},{"Name":"ExemptedByTag","Unit":"Count"},{"Name":"Retried","Unit":"Count"},{"Name":"Duration","Unit":"Milliseconds"}]`
	tests := []struct {
		name         string
		functionName string
		inv          Invocation
		want         string
	}{
		{
			name: "event in Lambda", functionName: "ecr-baseline-enforcer",
			inv: Invocation{Entry: "event", Tally: enforcer.Tally{Applied: 1}, Duration: 1500 * time.Microsecond},
			want: `{"_aws":{"Timestamp":1795000000123,"CloudWatchMetrics":[{"Namespace":"EcrBaseline","Dimensions":[["FunctionName"]],` + allMetrics + `}]},` +
				`"FunctionName":"ecr-baseline-enforcer","Entry":"event","Applied":1,"Unchanged":0,"Skipped":0,"Exempt":0,"Failed":0,"WouldApply":0,"ExemptedByTag":0,"Retried":0,"Duration":1.5}`,
		},
		{
			name: "backfill without a function name: no dimension",
			inv:  Invocation{Entry: "backfill", Tally: enforcer.Tally{Applied: 3, Unchanged: 4, Skipped: 1, Exempt: 2, Failed: 5, WouldApply: 6}, ExemptedByTag: 7, Duration: 2 * time.Minute},
			want: `{"_aws":{"Timestamp":1795000000123,"CloudWatchMetrics":[{"Namespace":"EcrBaseline","Dimensions":[[]],` + allMetrics + `}]},` +
				`"Entry":"backfill","Applied":3,"Unchanged":4,"Skipped":1,"Exempt":2,"Failed":5,"WouldApply":6,"ExemptedByTag":7,"Retried":0,"Duration":120000}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			e := New(&out, tt.functionName)
			e.now = func() time.Time { return time.UnixMilli(1795000000123) }
			if err := e.Emit(tt.inv); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want+"\n", out.String()); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			checkSpec(t, out.Bytes())
		})
	}
}

// checkSpec checks a record against the rules of the EMF specification
// that a typo would break: every dimension and metric is a member of the
// root node, dimensions are strings, metric values are numbers, and the
// timestamp is in milliseconds.
func checkSpec(t *testing.T, line []byte) {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(line, &root); err != nil {
		t.Fatalf("not one JSON object: %v", err)
	}
	var meta struct {
		AWS struct {
			Timestamp         *int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(line, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.AWS.Timestamp == nil || *meta.AWS.Timestamp < 1e12 {
		t.Errorf("_aws.Timestamp %v is not epoch milliseconds", meta.AWS.Timestamp)
	}
	if len(meta.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("%d metric directives, want 1", len(meta.AWS.CloudWatchMetrics))
	}
	d := meta.AWS.CloudWatchMetrics[0]
	for _, set := range d.Dimensions {
		for _, dim := range set {
			if _, ok := root[dim].(string); !ok {
				t.Errorf("dimension %s has no string member on the root node", dim)
			}
		}
	}
	for _, m := range d.Metrics {
		if _, ok := root[m.Name].(float64); !ok {
			t.Errorf("metric %s has no number member on the root node", m.Name)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestEmitWriteError(t *testing.T) {
	err := New(failingWriter{}, "f").Emit(Invocation{})
	if err == nil || err.Error() != "metrics: write: stdout closed" {
		t.Errorf("error = %v, want metrics: write: stdout closed", err)
	}
}

func TestEmitWritesWholeLines(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, "f")
	for range 3 {
		if err := e.Emit(Invocation{Entry: "event", Tally: enforcer.Tally{Skipped: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		checkSpec(t, []byte(l))
	}
}
