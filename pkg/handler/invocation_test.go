package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

type fakeRecorder struct {
	got []metrics.Invocation
	err error
}

func (f *fakeRecorder) Emit(inv metrics.Invocation) error {
	f.got = append(f.got, inv)
	return f.err
}

func TestHandleRecordsMetrics(t *testing.T) {
	create := sample(t, "create-repository.json")
	tests := []struct {
		name       string
		payload    string
		enforceErr error
		want       metrics.Invocation
		// wantErr is the invocation's error, "" for none: the record
		// counts what the invocation returned.
		wantErr string
	}{
		{name: "applied", payload: create, want: metrics.Invocation{Entry: "event", Tally: enforcer.Tally{Applied: 1}}},
		{name: "failed call skipped", payload: sample(t, "create-repository-failed.json"), want: metrics.Invocation{Entry: "event", Tally: enforcer.Tally{Skipped: 1}}},
		{name: "enforcement error", payload: create, enforceErr: errors.New("boom"), want: metrics.Invocation{Entry: "event", Tally: enforcer.Tally{Failed: 1}},
			wantErr: "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: boom"},
		{name: "rejected event", payload: sample(t, "not-ours.json"), want: metrics.Invocation{Entry: "event", Tally: enforcer.Tally{Failed: 1}},
			wantErr: `parse event: unsupported event: source "aws.ecr", detail-type "ECR Image Action"`},
		{name: "sweep request", payload: `{"action":"sweep","dryRun":true}`, want: metrics.Invocation{Entry: "sweep-request"}},
		{name: "unknown action", payload: `{"action":"restore"}`, want: metrics.Invocation{Entry: "sweep-request", Tally: enforcer.Tally{Failed: 1}},
			wantErr: `unknown action "restore": a request is "sweep" or "reconcile"`},
		{name: "another parameter", payload: strings.ReplaceAll(sample(t, "parameter-change.json"), "/ecr-baseline/baseline-policy", "/other"),
			want: metrics.Invocation{Entry: "parameter-change"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			h := &Handler{
				Enforcer: &fakeEnforcer{err: tt.enforceErr}, Baseline: &fakeBaseline{}, Queue: &fakeQueue{},
				AccountID: testAccount, Region: testRegion, ParameterName: "/ecr-baseline/baseline-policy",
				Metrics: rec, Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)),
			}
			_, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			if (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("Handle error = %v, want %q", err, tt.wantErr)
			}
			if len(rec.got) != 1 {
				t.Fatalf("%d records, want exactly one per invocation", len(rec.got))
			}
			if diff := cmp.Diff(tt.want, rec.got[0], cmpopts.IgnoreFields(metrics.Invocation{}, "Duration", "Sweep")); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			if rec.got[0].Duration <= 0 {
				t.Errorf("duration %s, want the invocation's wall time", rec.got[0].Duration)
			}
		})
	}
}

func TestHandleLogsMetricsFailure(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{Enforcer: &fakeEnforcer{}, Metrics: &fakeRecorder{err: errors.New("metrics: write: stdout closed")},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	if _, err := h.Handle(context.Background(), json.RawMessage(sample(t, "create-repository.json"))); err != nil {
		t.Fatalf("a metrics failure failed the invocation: %v", err)
	}
	if want := `"msg":"metrics not emitted","error":"metrics: write: stdout closed"`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs %s lack %s", logs.String(), want)
	}
}

// deadlineEnforcer reports the deadline of the context it is given and
// fails as a call would once that context has ended.
type deadlineEnforcer struct {
	fakeEnforcer
	deadline time.Time
	has      bool
}

func (d *deadlineEnforcer) Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	d.deadline, d.has = ctx.Deadline()
	if err := ctx.Err(); err != nil {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed}, err
	}
	return d.fakeEnforcer.Enforce(ctx, repo)
}

func (d *deadlineEnforcer) EnforceAfterWrite(ctx context.Context, repo ecrevent.Repository, _ string) (enforcer.Result, error) {
	return d.Enforce(ctx, repo)
}

// TestHandleCutsReserveFromDeadline is about real time, the Lambda
// deadline, so it gives the invocation one; it waits for none: each
// deadline is an hour away or already inside the reserve.
func TestHandleCutsReserveFromDeadline(t *testing.T) {
	const reserve = 2 * time.Second
	create := json.RawMessage(sample(t, "create-repository.json"))
	lambdaDeadline := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	tests := []struct {
		name         string
		ctx          func() (context.Context, context.CancelFunc)
		wantDeadline time.Time
		wantErr      error
	}{
		{"Lambda deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), lambdaDeadline)
		}, lambdaDeadline.Add(-reserve), nil},
		{"no deadline (CLI): none invented", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, time.Time{}, nil},
		// Less time left than the reserve: the calls fail at once and the
		// event goes back to Lambda's retries.
		{"deadline inside the reserve", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(reserve/2))
		}, time.Time{}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enf := &deadlineEnforcer{}
			rec := &fakeRecorder{}
			h := &Handler{Enforcer: enf, Reserve: reserve, Metrics: rec, Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := h.Handle(ctx, create)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Handle error = %v, want %v", err, tt.wantErr)
			}
			if !tt.wantDeadline.IsZero() && !enf.deadline.Equal(tt.wantDeadline) {
				t.Errorf("enforcer's deadline %s, want %s (the Lambda deadline less %s)", enf.deadline, tt.wantDeadline, reserve)
			}
			if tt.wantDeadline.IsZero() && tt.wantErr == nil && enf.has {
				t.Errorf("enforcer's context has deadline %s, want none", enf.deadline)
			}
			if tt.wantErr != nil && (len(rec.got) != 1 || rec.got[0].Failed != 1) {
				t.Errorf("records %+v, want one with Failed 1", rec.got)
			}
		})
	}
}

// TestExemptionByTagIsReported: a TagResource event that sets the
// exemption tag and leaves the repository exempt is logged at WARN with
// who tagged it and counted in ExemptedByTag; anything else is not.
func TestExemptionByTagIsReported(t *testing.T) {
	tagged := strings.Replace(sample(t, "tag-resource.json"), `"value": "false"`, `"value": "true"`, 1)
	createdTagged := strings.Replace(sample(t, "create-repository.json"), `"repositoryName": "team-a/web",`,
		`"repositoryName": "team-a/web", "tags": [{"key": "ecr-baseline:exempt", "value": "true"}],`, 1)
	tests := []struct {
		name    string
		payload string
		tagKey  string
		action  enforcer.Action
		want    int
		wantLog string
	}{
		{name: "tag set, repository exempt", payload: tagged, tagKey: "ecr-baseline:exempt", action: enforcer.Exempt, want: 1,
			wantLog: `{"level":"WARN","msg":"repository exempted by tag","event_id":"3b5d7f91-a2c4-4e6b-8d0f-2a4c6e8b0d13","repository":"team-a/web","action":"exempt","reason":"","tagged_by":"arn:aws:iam::123456789012:role/PlatformAdmin"}`},
		{name: "tag exemption off", payload: tagged, action: enforcer.Exempt},
		{name: "another tag key", payload: tagged, tagKey: "owner", action: enforcer.Exempt},
		{name: "tag set, repository enforced", payload: tagged, tagKey: "ecr-baseline:exempt", action: enforcer.Applied},
		{name: "untagged", payload: sample(t, "untag-resource.json"), tagKey: "ecr-baseline:exempt", action: enforcer.Exempt},
		{name: "tag set to another value, repository exempt by name", payload: sample(t, "tag-resource.json"), tagKey: "ecr-baseline:exempt", action: enforcer.Exempt},
		{name: "repository created with the tag", payload: createdTagged, tagKey: "ecr-baseline:exempt", action: enforcer.Exempt, want: 1,
			wantLog: `{"level":"WARN","msg":"repository exempted by tag","event_id":"6f87d04b-9f74-4f04-a780-7acf4b0a9b38","repository":"team-a/web","action":"exempt","reason":"","tagged_by":"arn:aws:iam::123456789012:role/PlatformAdmin"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			var logs bytes.Buffer
			h := &Handler{Enforcer: &fakeEnforcer{action: tt.action}, ExemptTagKey: tt.tagKey, ExemptTagValue: "true", Metrics: rec,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn,
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					}}))}
			if _, err := h.Handle(context.Background(), json.RawMessage(tt.payload)); err != nil {
				t.Fatal(err)
			}
			if len(rec.got) != 1 || rec.got[0].ExemptedByTag != tt.want {
				t.Errorf("records %+v, want one with ExemptedByTag %d", rec.got, tt.want)
			}
			want := ""
			if tt.wantLog != "" {
				want = tt.wantLog + "\n"
			}
			if diff := cmp.Diff(want, logs.String()); diff != "" {
				t.Errorf("WARN lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBatchRecordsPerSweep: a batch holding items of two sweeps emits one
// record per sweep, each carrying its sweep's id and counts; a repository
// or a page that failed and returns to the queue counts as a retry.
func TestBatchRecordsPerSweep(t *testing.T) {
	rec := &fakeRecorder{}
	other := enforceItem("c")
	other.Sweep = "s2"
	page := sweep.Item{Kind: sweep.KindList, Sweep: "s2", DryRun: aws.Bool(false), Account: testAccount, Region: testRegion}
	h := &Handler{Enforcer: &fakeEnforcer{failing: map[string]bool{"b": true}}, Baseline: &fakeBaseline{}, Lister: &fakeLister{err: errors.New("denied")},
		AccountID: testAccount, Region: testRegion, Concurrency: 2, Metrics: rec, Logger: quietLogger()}
	_, err := h.Handle(context.Background(), batchPayload(t, message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 1),
		message("m3", other, 1), message("m4", page, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// Every failure here goes back to the queue: a retry, not yet a
	// failed repository.
	want := []metrics.Invocation{
		{Entry: "sweep-batch", Sweep: "s1", Tally: enforcer.Tally{Applied: 1}, Retried: 1},
		{Entry: "sweep-batch", Sweep: "s2", Tally: enforcer.Tally{Applied: 1}, Retried: 1},
	}
	got := rec.got
	slices.SortFunc(got, func(a, b metrics.Invocation) int { return strings.Compare(a.Sweep, b.Sweep) })
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(metrics.Invocation{}, "Duration")); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
