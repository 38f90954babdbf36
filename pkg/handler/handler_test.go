package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

type fakeEnforcer struct {
	calls []ecrevent.Repository
	err   error
}

func (f *fakeEnforcer) Enforce(_ context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	f.calls = append(f.calls, repo)
	if f.err != nil {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.ActionError}, f.err
	}
	return enforcer.Result{Repository: repo.Name, Action: enforcer.Applied}, nil
}

// sample is an events/ sample as the string the tables splice.
func sample(t *testing.T, name string) string {
	t.Helper()
	return string(samples.Read(t, name))
}

func TestHandle(t *testing.T) {
	create := sample(t, "create-repository.json")
	tests := []struct {
		name         string
		payload      string
		enforceErr   error
		want         Response
		wantEnforced int
		wantErrIs    error
		wantLog      string
	}{
		{name: "create repository", payload: create, wantEnforced: 1,
			want: Response{Results: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied}}}},
		{name: "failed call is skipped", payload: sample(t, "create-repository-failed.json"),
			want: Response{Results: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Skipped,
				Reason: "CreateRepository call failed with RepositoryAlreadyExistsException"}}},
			wantLog: `"reason":"CreateRepository call failed with RepositoryAlreadyExistsException"`},
		{name: "foreign event is an error", payload: sample(t, "not-ours.json"), wantErrIs: ecrevent.ErrUnsupported,
			wantLog: `"message":"rejected event"`},
		{name: "truncated event is an error", payload: create[:100], wantErrIs: ecrevent.ErrMalformed},
		{name: "enforcement error reaches Lambda", payload: create, enforceErr: errors.New("enforce team-a/web: set policy: boom"),
			wantEnforced: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &fakeEnforcer{err: tt.enforceErr}
			h := &Handler{Enforcer: f, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: renameMsg}))}
			got, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			wantErr := tt.wantErrIs != nil || tt.enforceErr != nil
			if wantErr != (err != nil) {
				t.Fatalf("Handle error = %v, want error %v", err, wantErr)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Errorf("error %v is not %v", err, tt.wantErrIs)
			}
			if tt.enforceErr != nil && !strings.Contains(err.Error(), "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: enforce team-a/web: set policy: boom") {
				t.Errorf("error %q does not name the event and cause", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if len(f.calls) != tt.wantEnforced {
				t.Errorf("enforced %d times, want %d", len(f.calls), tt.wantEnforced)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs %s lack %s", logs.String(), tt.wantLog)
			}
		})
	}
}

func renameMsg(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.MessageKey {
		a.Key = "message"
	}
	return a
}

type fakeBackfill struct {
	runs []backfill.Options
	sum  backfill.Summary
	err  error
}

func (f *fakeBackfill) Run(_ context.Context, opts backfill.Options) (backfill.Summary, error) {
	f.runs = append(f.runs, opts)
	return f.sum, f.err
}

type fakeBaseline struct{ invalidated int }

func (f *fakeBaseline) Invalidate() { f.invalidated++ }

type fakeContinuer struct {
	payloads []string
	err      error
}

func (f *fakeContinuer) Continue(_ context.Context, payload []byte) error {
	f.payloads = append(f.payloads, string(payload))
	return f.err
}

func TestHandleDriftAndOwnWrites(t *testing.T) {
	tests := []struct {
		file         string
		wantEnforced int
		wantReason   string
	}{
		{"set-repository-policy.json", 1, ""},
		{"delete-repository-policy.json", 1, ""},
		{"create-repository-pull-through-cache.json", 1, ""},
		{"create-repository-replication.json", 1, ""},
		{"set-repository-policy-by-enforcer.json", 0, "SetRepositoryPolicy made by ecr-baseline itself"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := &fakeEnforcer{}
			h := &Handler{Enforcer: f, SelfRoleARN: "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			got, err := h.Handle(context.Background(), json.RawMessage(sample(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.calls) != tt.wantEnforced {
				t.Errorf("enforced %d times, want %d", len(f.calls), tt.wantEnforced)
			}
			if tt.wantReason != "" && (len(got.Results) != 1 || got.Results[0].Action != enforcer.Skipped || got.Results[0].Reason != tt.wantReason) {
				t.Errorf("results %+v, want skipped: %s", got.Results, tt.wantReason)
			}
		})
	}
}

func TestHandleParameterChange(t *testing.T) {
	change := sample(t, "parameter-change.json")
	tests := []struct {
		name          string
		payload       string
		sum           backfill.Summary
		continueErr   error
		wantRuns      int
		wantContinued []string
		wantErr       string
	}{
		{name: "fleet finished in one invocation", payload: change, sum: backfill.Summary{Scanned: 50, Applied: 50, Complete: true}, wantRuns: 1},
		{name: "fleet too big: continues itself", payload: change, sum: backfill.Summary{Scanned: 10, Applied: 10, NextToken: "tok"}, wantRuns: 1,
			wantContinued: []string{`{"action":"backfill","dryRun":false,"prefix":"","continuationToken":"tok","selfContinue":true}`}},
		{name: "continuing fails: invocation fails so Lambda retries", payload: change, sum: backfill.Summary{NextToken: "tok"}, continueErr: errors.New("AccessDenied"),
			wantRuns: 1, wantContinued: []string{`{"action":"backfill","dryRun":false,"prefix":"","continuationToken":"tok","selfContinue":true}`},
			wantErr: "backfill stopped at its deadline and could not continue: AccessDenied"},
		{name: "another parameter", payload: strings.ReplaceAll(change, "/ecr-baseline/baseline-policy", "/other"), wantRuns: 0},
		{name: "baseline deleted", payload: strings.Replace(change, `"Update"`, `"Delete"`, 1), wantErr: "baseline parameter /ecr-baseline/baseline-policy was deleted"},
		{name: "malformed", payload: `{"source":"aws.ssm","detail-type":"Parameter Store Change","id":"x"}`, wantErr: "malformed parameter change event: event x lacks detail.name or detail.operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bf := &fakeBackfill{sum: tt.sum}
			bl := &fakeBaseline{}
			cont := &fakeContinuer{err: tt.continueErr}
			h := &Handler{Backfill: bf, Baseline: bl, Continue: cont, ParameterName: "/ecr-baseline/baseline-policy",
				Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			_, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(bf.runs) != tt.wantRuns {
				t.Fatalf("backfill runs = %d, want %d", len(bf.runs), tt.wantRuns)
			}
			if tt.wantRuns > 0 && bl.invalidated != 1 {
				t.Errorf("baseline invalidated %d times, want 1 before the run", bl.invalidated)
			}
			if diff := cmp.Diff(tt.wantContinued, cont.payloads); diff != "" {
				t.Errorf("continuations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandleBackfillRequest(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		wantOpts []backfill.Options
		wantErr  string
	}{
		{"dry run with prefix", `{"action":"backfill","dryRun":true,"prefix":"team-a/"}`,
			[]backfill.Options{{Prefix: "team-a/", DryRun: true, StopBefore: 30 * time.Second}}, ""},
		{"resume", `{"action":"backfill","continuationToken":"abc"}`,
			[]backfill.Options{{Token: "abc", StopBefore: 30 * time.Second}}, ""},
		{"unknown action", `{"action":"sync"}`, nil, `unknown action "sync": the manual invoke payload supports "backfill"`},
		{"wrong field type", `{"action":"backfill","dryRun":"yes"}`, nil, "backfill request: json: cannot unmarshal string into Go struct field BackfillRequest.dryRun of type bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bf := &fakeBackfill{sum: backfill.Summary{Complete: true}}
			h := &Handler{Backfill: bf, StopBefore: 30 * time.Second, Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			got, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Summary == nil {
				t.Fatalf("Handle = %+v, %v", got, err)
			}
			if diff := cmp.Diff(tt.wantOpts, bf.runs, cmp.Comparer(func(a, b func(enforcer.Result)) bool { return (a == nil) == (b == nil) })); diff != "" {
				t.Errorf("backfill options (-want +got):\n%s", diff)
			}
		})
	}
}
