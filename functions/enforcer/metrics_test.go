package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// emfRecord is the part of an EMF line the alarms depend on.
type emfRecord struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	FunctionName                                            string
	Entry, Sweep                                            string
	Applied, Unchanged, Skipped, Exempt, Failed, WouldApply int
	Duration                                                *float64
}

// TestBootstrapEmitsMetrics runs the real binary and reads its stdout, as
// Lambda does: one EMF record per invocation, counts per outcome, and an
// invocation error counted as a failure.
func TestBootstrapEmitsMetrics(t *testing.T) {
	ctx := context.Background()
	seed(t, fleet.Repo{Name: "team-a/web"})
	cfg, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	queues, err := moto.NewSweepQueues(ctx, sqs.NewFromConfig(cfg), "sweeps", 5)
	if err != nil {
		t.Fatal(err)
	}
	rt, _, logs := startFunction(t, append(queues.Env(), "BASELINE_PARAMETER_NAME="+fleet.Parameter,
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole")...)
	item := sweep.Item{Kind: sweep.KindEnforce, Sweep: "s1", DryRun: aws.Bool(false), Account: moto.AccountID, Region: moto.Region, Repository: "team-a/web"}
	batch, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: item.Encode(), EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
	if err != nil {
		t.Fatal(err)
	}

	type counts struct {
		Entry, Sweep                                            string
		Applied, Unchanged, Skipped, Exempt, Failed, WouldApply int
	}
	invocations := []struct {
		payload []byte
		want    counts
	}{
		{samples.Read(t, "create-repository.json"), counts{Entry: "event", Applied: 1}},
		{samples.Read(t, "create-repository.json"), counts{Entry: "event", Unchanged: 1}},
		{samples.Read(t, "not-ours.json"), counts{Entry: "event", Failed: 1}},
		{[]byte(`{"action":"sweep","dryRun":true}`), counts{Entry: "sweep-request", Sweep: "<id>"}},
		{batch, counts{Entry: "sweep-batch", Sweep: "s1", Unchanged: 1}},
	}
	for i, inv := range invocations {
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := rt.Invoke(ictx, inv.payload, time.Minute)
		cancel()
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
	}

	// stdout reaches the buffer through a pipe, after the response: wait
	// for the last record before reading them all (the timeout only
	// bounds a failing run).
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !logs.waitFor(wctx, func(l string) bool { return strings.Count(l, `"_aws"`) >= len(invocations) }) {
		t.Errorf("%d EMF records after 30 s, want %d", strings.Count(logs.String(), `"_aws"`), len(invocations))
	}
	var got []counts
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var rec emfRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("EMF line is not JSON: %v\n%s", err, line)
		}
		checkShape(t, rec)
		if rec.Entry == "sweep-request" && rec.Sweep != "" {
			rec.Sweep = "<id>" // random
		}
		got = append(got, counts{rec.Entry, rec.Sweep, rec.Applied, rec.Unchanged, rec.Skipped, rec.Exempt, rec.Failed, rec.WouldApply})
	}
	want := make([]counts, len(invocations))
	for i, inv := range invocations {
		want[i] = inv.want
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF records, one per invocation (-want +got):\n%s", diff)
	}
}

func checkShape(t *testing.T, rec emfRecord) {
	t.Helper()
	wantMetrics := []struct{ Name, Unit string }{
		{"Applied", "Count"}, {"Unchanged", "Count"}, {"Skipped", "Count"}, {"Exempt", "Count"},
		{"Failed", "Count"}, {"WouldApply", "Count"}, {"ExemptedByTag", "Count"}, {"Retried", "Count"}, {"Duration", "Milliseconds"},
	}
	if len(rec.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("%d metric directives, want 1", len(rec.AWS.CloudWatchMetrics))
	}
	d := rec.AWS.CloudWatchMetrics[0]
	if d.Namespace != "EcrBaseline" || !cmp.Equal(d.Dimensions, [][]string{{"FunctionName"}}) || !cmp.Equal(d.Metrics, wantMetrics) {
		t.Errorf("directive %+v, want namespace EcrBaseline, dimension FunctionName and the nine metrics", d)
	}
	if rec.FunctionName != "ecr-baseline-enforcer" {
		t.Errorf("FunctionName %q, want the function's own name", rec.FunctionName)
	}
	if rec.AWS.Timestamp < 1e12 || rec.Duration == nil || *rec.Duration <= 0 {
		t.Errorf("timestamp %d, duration %v: want epoch milliseconds and a duration", rec.AWS.Timestamp, rec.Duration)
	}
}
