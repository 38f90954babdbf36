package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

type fakeEnforcer struct {
	// mu guards calls: the end of a run enforces concurrently.
	mu    sync.Mutex
	calls []ecrevent.Repository
	err   error
	// failing names repositories that fail; err fails every one.
	failing map[string]bool
	// carries answers Carries; carriesCalls counts the policies asked about.
	carries      bool
	carriesCalls []string
	// triggers are the enforcer.Trigger of each call's context.
	triggers []string
	// action, when set, is the outcome of every Enforce that succeeds.
	action enforcer.Action
}

func (f *fakeEnforcer) Carries(_ context.Context, _ ecrevent.Repository, policyText string) (bool, error) {
	f.carriesCalls = append(f.carriesCalls, policyText)
	return f.carries, nil
}

func (f *fakeEnforcer) EnforceAfterWrite(ctx context.Context, repo ecrevent.Repository, _ string) (enforcer.Result, error) {
	return f.Enforce(ctx, repo)
}

func (f *fakeEnforcer) Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, repo)
	f.triggers = append(f.triggers, enforcer.Trigger(ctx))
	f.mu.Unlock()
	if f.err != nil {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed}, f.err
	}
	if f.failing[repo.Name] {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed}, errors.New("enforce " + repo.Name + ": set policy: denied")
	}
	if f.action != "" {
		return enforcer.Result{Repository: repo.Name, Action: f.action}, nil
	}
	return enforcer.Result{Repository: repo.Name, Action: enforcer.Applied}, nil
}

// sample is an events/ sample as the string the tables splice.
func sample(t *testing.T, name string) string {
	t.Helper()
	return string(samples.Read(t, name))
}

// logLine is what the tests check of a log line.
type logLine struct {
	Message string          `json:"message"`
	Action  enforcer.Action `json:"action,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// logLines reads every JSON line the handler logged.
func logLines(t *testing.T, logs *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, l)
	}
	return out
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
		// wantLogs is every line the handler logs itself; an enforced
		// repository's decision is the enforcer's line, not the handler's,
		// and an error returned to Lambda is logged by the runtime.
		wantLogs []logLine
	}{
		{name: "create repository", payload: create, wantEnforced: 1,
			want: Response{Results: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied}}}},
		{name: "failed call is skipped", payload: sample(t, "create-repository-failed.json"),
			want: Response{Results: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Skipped,
				Reason: "CreateRepository call failed with RepositoryAlreadyExistsException"}}},
			wantLogs: []logLine{{Message: "skipped event", Action: enforcer.Skipped, Reason: "CreateRepository call failed with RepositoryAlreadyExistsException"}}},
		{name: "foreign event is an error", payload: sample(t, "not-ours.json"), wantErrIs: ecrevent.ErrUnsupported,
			wantLogs: []logLine{{Message: "rejected event", Action: enforcer.Failed, Error: `unsupported event: source "aws.ecr", detail-type "ECR Image Action"`}}},
		{name: "truncated event is an error", payload: create[:100], wantErrIs: ecrevent.ErrMalformed,
			wantLogs: []logLine{{Message: "rejected event", Action: enforcer.Failed, Error: "malformed event: unexpected end of JSON input"}}},
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
			if diff := cmp.Diff(tt.wantLogs, logLines(t, &logs)); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
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
	// triggers are the enforcer.Trigger of each run's context.
	triggers []string
}

func (f *fakeBackfill) Run(ctx context.Context, opts backfill.Options) (backfill.Summary, error) {
	f.runs = append(f.runs, opts)
	f.triggers = append(f.triggers, enforcer.Trigger(ctx))
	return f.sum, f.err
}

type fakeBaseline struct {
	invalidated int
	// version is what Load returns; loads records each minVersion asked.
	version int64
	err     error
	loads   []int64
	// fresh records the maxAge of each LoadFresh.
	fresh []time.Duration
}

func (f *fakeBaseline) Invalidate() { f.invalidated++ }

func (f *fakeBaseline) LoadFresh(_ context.Context, maxAge time.Duration) error {
	f.fresh = append(f.fresh, maxAge)
	return f.err
}

func (f *fakeBaseline) Load(_ context.Context, minVersion int64) (int64, error) {
	f.loads = append(f.loads, minVersion)
	return max(f.version, minVersion), f.err
}

type fakeContinuer struct {
	payloads []string
	err      error
}

func (f *fakeContinuer) Continue(_ context.Context, payload []byte) error {
	f.payloads = append(f.payloads, string(payload))
	return f.err
}

func TestHandleDriftAndOwnWrites(t *testing.T) {
	applied := func(repo string) enforcer.Result { return enforcer.Result{Repository: repo, Action: enforcer.Applied} }
	web := []string{"team-a/web"}
	tests := []struct {
		file    string
		carries bool
		// wantCarriesAsked is whether the enforcer was asked about the
		// written policy; wantInvalidated whether the cache was dropped.
		wantCarriesAsked bool
		wantInvalidated  int
		// wantEnforced names the repositories enforced; want is the one
		// result the invocation returns.
		wantEnforced []string
		want         enforcer.Result
	}{
		{file: "set-repository-policy.json", wantEnforced: web, want: applied("team-a/web")},
		{file: "delete-repository-policy.json", wantEnforced: web, want: applied("team-a/web")},
		{file: "create-repository-pull-through-cache.json", wantEnforced: []string{"ecr-public/docker/library/nginx"}, want: applied("ecr-public/docker/library/nginx")},
		{file: "create-repository-replication.json", wantEnforced: web, want: applied("team-a/web")},
		{file: "set-repository-policy-by-enforcer.json", carries: true, wantCarriesAsked: true,
			want: enforcer.Result{Repository: "team-a/web", Action: enforcer.Skipped, Reason: "SetRepositoryPolicy made by ecr-baseline itself"}},
		// The write lacks this container's baseline: one of two is stale.
		{file: "set-repository-policy-by-enforcer.json", carries: false, wantCarriesAsked: true, wantInvalidated: 1,
			wantEnforced: web, want: applied("team-a/web")},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/carries %v", tt.file, tt.carries), func(t *testing.T) {
			f := &fakeEnforcer{carries: tt.carries}
			bl := &fakeBaseline{}
			h := &Handler{Enforcer: f, Baseline: bl, SelfRoleARN: "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", OwnWriteMaxAge: 7 * time.Second,
				Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			got, err := h.Handle(context.Background(), json.RawMessage(sample(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			// An own write is judged against a baseline at most
			// OwnWriteMaxAge old; other events keep the TTL.
			if tt.wantCarriesAsked != (len(bl.fresh) == 1 && bl.fresh[0] == 7*time.Second) {
				t.Errorf("LoadFresh calls %v; want one with OwnWriteMaxAge exactly for own writes", bl.fresh)
			}
			var enforced []string
			for _, r := range f.calls {
				enforced = append(enforced, r.Name)
			}
			if diff := cmp.Diff(tt.wantEnforced, enforced); diff != "" {
				t.Errorf("enforced (-want +got):\n%s", diff)
			}
			if bl.invalidated != tt.wantInvalidated {
				t.Errorf("invalidated %d times, want %d", bl.invalidated, tt.wantInvalidated)
			}
			if asked := len(f.carriesCalls) == 1 && strings.Contains(f.carriesCalls[0], "BaselineAllowAccountPull"); asked != tt.wantCarriesAsked {
				t.Errorf("Carries asked about %q; want the written policy asked about: %v", f.carriesCalls, tt.wantCarriesAsked)
			}
			if diff := cmp.Diff(Response{Results: []enforcer.Result{tt.want}}, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
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
		apply         bool
		wantRuns      int
		wantDryRun    bool
		wantContinued []string
		wantErr       string
	}{
		{name: "first deploy without opt-in: a dry run", payload: change, sum: backfill.Summary{Scanned: 50, Tally: enforcer.Tally{WouldApply: 50}, NextToken: "tok"},
			wantRuns: 1, wantDryRun: true,
			wantContinued: []string{`{"action":"continue","dryRun":true,"prefix":"","continuationToken":"tok","baselineVersion":7}`}},
		{name: "fleet finished in one invocation", payload: change, apply: true, sum: backfill.Summary{Scanned: 50, Tally: enforcer.Tally{Applied: 50}, Complete: true}, wantRuns: 1},
		{name: "fleet too big: continues itself with the version it read", payload: change, apply: true, sum: backfill.Summary{Scanned: 10, Tally: enforcer.Tally{Applied: 10}, NextToken: "tok"}, wantRuns: 1,
			wantContinued: []string{`{"action":"continue","dryRun":false,"prefix":"","continuationToken":"tok","baselineVersion":7}`}},
		{name: "continuing fails: invocation fails so Lambda retries", payload: change, apply: true, sum: backfill.Summary{NextToken: "tok"}, continueErr: errors.New("AccessDenied"),
			wantRuns: 1, wantContinued: []string{`{"action":"continue","dryRun":false,"prefix":"","continuationToken":"tok","baselineVersion":7}`},
			wantErr: "backfill could not queue its next invocation: AccessDenied"},
		{name: "another parameter", payload: strings.ReplaceAll(change, "/ecr-baseline/baseline-policy", "/other"), wantRuns: 0},
		{name: "baseline deleted", payload: strings.Replace(change, `"Update"`, `"Delete"`, 1), wantErr: "baseline parameter /ecr-baseline/baseline-policy was deleted"},
		{name: "malformed", payload: `{"source":"aws.ssm","detail-type":"Parameter Store Change","id":"x"}`, wantErr: "malformed parameter change event: event x lacks detail.name or detail.operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bf := &fakeBackfill{sum: tt.sum}
			bl := &fakeBaseline{version: 7}
			cont := &fakeContinuer{err: tt.continueErr}
			h := &Handler{Backfill: bf, Baseline: bl, Continue: cont, ParameterName: "/ecr-baseline/baseline-policy", ApplyToExisting: tt.apply,
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
			for _, run := range bf.runs {
				if run.DryRun != tt.wantDryRun {
					t.Errorf("fleet run DryRun = %v, want %v", run.DryRun, tt.wantDryRun)
				}
			}
			if tt.wantRuns > 0 && (bl.invalidated != 1 || len(bl.loads) != 1) {
				t.Errorf("baseline invalidated %d times and loaded %d; want once each before the run", bl.invalidated, len(bl.loads))
			}
			if diff := cmp.Diff(tt.wantContinued, cont.payloads); diff != "" {
				t.Errorf("continuations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandleBackfillRequest(t *testing.T) {
	loadFailed := errors.New("load baseline /b: invalid repository policy: policy needs at least one statement")
	tests := []struct {
		name      string
		payload   string
		loadErr   error
		wantOpts  []backfill.Options
		wantLoads []int64
		wantErr   string
	}{
		{name: "dry run with prefix", payload: `{"action":"backfill","dryRun":true,"prefix":"team-a/"}`,
			wantOpts: []backfill.Options{{Prefix: "team-a/", DryRun: true, StopBefore: 30 * time.Second}}, wantLoads: []int64{0}},
		{name: "resume", payload: `{"action":"backfill","dryRun":false,"continuationToken":"abc"}`,
			wantOpts: []backfill.Options{{Token: "abc", StopBefore: 30 * time.Second}}, wantLoads: []int64{0}},
		// Another container's continuation: its cache must be at least as
		// new as the baseline the run started with.
		{name: "continuation with the run's baseline version", payload: `{"action":"continue","dryRun":false,"continuationToken":"abc","baselineVersion":7}`,
			wantOpts: []backfill.Options{{Token: "abc", StopBefore: 30 * time.Second}}, wantLoads: []int64{7}},
		{name: "dryRun left out", payload: `{"action":"backfill","prefix":"team-a/"}`,
			wantErr: "dryRun is required: true to preview, false to apply"},
		{name: "dryRun null", payload: `{"action":"backfill","dryRun":null}`,
			wantErr: "dryRun is required: true to preview, false to apply"},
		{name: "baseline cannot be loaded: nothing runs", payload: `{"action":"backfill","dryRun":false}`, loadErr: loadFailed, wantLoads: []int64{0},
			wantErr: "backfill: nothing enforced: load baseline /b: invalid repository policy: policy needs at least one statement"},
		{name: "unknown action", payload: `{"action":"sync"}`, wantErr: `unknown action "sync": the manual invoke payload supports "backfill"`},
		{name: "wrong field type", payload: `{"action":"backfill","dryRun":"yes"}`, wantErr: "backfill request: json: cannot unmarshal string into Go struct field BackfillRequest.dryRun of type bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bf := &fakeBackfill{sum: backfill.Summary{Complete: true}}
			bl := &fakeBaseline{err: tt.loadErr}
			h := &Handler{Backfill: bf, Baseline: bl, StopBefore: 30 * time.Second, Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			got, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			if diff := cmp.Diff(tt.wantLoads, bl.loads); diff != "" {
				t.Errorf("baseline loads (-want +got):\n%s", diff)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if len(bf.runs) != 0 {
					t.Errorf("%d runs started, want none", len(bf.runs))
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

// segmentBackfill returns one summary per run, in order, as the
// invocations of one self-continued run would see them.
type segmentBackfill struct {
	sums []backfill.Summary
	runs int
}

func (s *segmentBackfill) Run(context.Context, backfill.Options) (backfill.Summary, error) {
	s.runs++
	return s.sums[min(s.runs, len(s.sums))-1], nil
}

func failures(names ...string) []backfill.Failure {
	out := make([]backfill.Failure, len(names))
	for i, n := range names {
		out[i] = backfill.Failure{Repository: n, Reason: "set policy: denied"}
	}
	return out
}

// TestSelfContinuedRunRetriesFailures follows a fleet run started by a
// parameter change through its continuations, delivering each queued
// payload as Lambda would: failures travel forward, the run ends with an
// invocation that retries them once and fails while any still fail, and
// Lambda's retry of that last payload queues nothing.
func TestSelfContinuedRunRetriesFailures(t *testing.T) {
	many := make([]string, MaxCarried+3)
	for i := range many {
		many[i] = fmt.Sprintf("bulk/r%03d", i)
	}
	tests := []struct {
		name    string
		sums    []backfill.Summary
		failing map[string]bool
		account string
		// wantCarried is the failed list of each continuation queued.
		wantCarried [][]string
		wantRetried []string
		wantErr     string
	}{
		{name: "a failure recovers on the retry",
			sums: []backfill.Summary{
				{Tally: enforcer.Tally{Failed: 1}, Failures: failures("team-a/web"), NextToken: "t1"},
				{Tally: enforcer.Tally{Failed: 1}, Failures: failures("team-b/api"), NextToken: "t2"},
				{Complete: true},
			},
			wantCarried: [][]string{{"team-a/web"}, {"team-a/web", "team-b/api"}, {"team-a/web", "team-b/api"}},
			wantRetried: []string{"team-a/web", "team-b/api"}},
		{name: "a failure that persists fails the last invocation",
			sums: []backfill.Summary{
				{Tally: enforcer.Tally{Failed: 1}, Failures: failures("team-a/web"), NextToken: "t1"},
				{Tally: enforcer.Tally{Failed: 1}, Failures: failures("team-c/db"), Complete: true},
			},
			failing: map[string]bool{"team-a/web": true}, wantCarried: [][]string{{"team-a/web"}, {"team-a/web", "team-c/db"}},
			wantRetried: []string{"team-a/web", "team-c/db"},
			wantErr:     "backfill complete but 1 repositories still fail: team-a/web"},
		{name: "without the account nothing can be retried by name",
			sums:    []backfill.Summary{{Tally: enforcer.Tally{Failed: 1}, Failures: failures("team-a/web"), NextToken: "t1"}, {Complete: true}},
			account: "-", wantCarried: [][]string{{"team-a/web"}, {"team-a/web"}},
			wantErr: "backfill complete but 1 repositories still fail: team-a/web"},
		{name: "failures beyond the cap fail the run loudly",
			sums:        []backfill.Summary{{Tally: enforcer.Tally{Failed: len(many)}, Failures: failures(many...), NextToken: "t1"}, {Complete: true}},
			wantCarried: [][]string{many[:MaxCarried], many[:MaxCarried]}, wantRetried: many[:MaxCarried],
			wantErr: "backfill complete but 3 failed in earlier invocations beyond the 200 carried and were not retried (see their logs)"},
		{name: "an error names 50 repositories and counts the rest",
			sums:        []backfill.Summary{{Tally: enforcer.Tally{Failed: 60}, Failures: failures(many[:60]...), NextToken: "t1"}, {Complete: true}},
			failing:     everyOne(many[:60]),
			wantCarried: [][]string{many[:60], many[:60]}, wantRetried: many[:60],
			wantErr: "backfill complete but 60 repositories still fail: " + strings.Join(many[:50], ", ") + " and 10 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enf := &fakeEnforcer{failing: tt.failing}
			cont := &fakeContinuer{}
			account := "123456789012"
			if tt.account == "-" {
				account = ""
			}
			h := &Handler{Enforcer: enf, Backfill: &segmentBackfill{sums: tt.sums}, Baseline: &fakeBaseline{version: 3}, Continue: cont, ApplyToExisting: true,
				ParameterName: "/ecr-baseline/baseline-policy", AccountID: account, Region: "us-east-1",
				Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			_, err := h.Handle(context.Background(), json.RawMessage(sample(t, "parameter-change.json")))
			var carried [][]string
			var retrying []bool
			for i := 0; err == nil && i < len(cont.payloads); i++ {
				var req Continuation
				if jerr := json.Unmarshal([]byte(cont.payloads[i]), &req); jerr != nil {
					t.Fatal(jerr)
				}
				if req.DryRun == nil || *req.DryRun || req.BaselineVersion != 3 || req.Action != actionContinue {
					t.Errorf("continuation %s: want dryRun false, baselineVersion 3, action continue", cont.payloads[i])
				}
				retrying = append(retrying, req.RetryFailed)
				carried = append(carried, req.Failed)
				_, err = h.Handle(context.Background(), json.RawMessage(cont.payloads[i]))
			}
			if diff := cmp.Diff(tt.wantCarried, carried); diff != "" {
				t.Errorf("carried failures (-want +got):\n%s", diff)
			}
			// Only the run's last payload retries.
			for i, r := range retrying {
				if r != (i == len(retrying)-1) {
					t.Errorf("continuation %d of %d has retryFailed %t", i+1, len(retrying), r)
				}
			}
			var retried []string
			for _, r := range enf.calls {
				retried = append(retried, r.Name)
				if r.RegistryID != account || r.Region != "us-east-1" || r.ARN != "arn:aws:ecr:us-east-1:123456789012:repository/"+r.Name {
					t.Errorf("retried %+v, want it located in the function's account and region", r)
				}
			}
			if diff := cmp.Diff(tt.wantRetried, retried); diff != "" {
				t.Errorf("retried (-want +got):\n%s", diff)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("last invocation error = %v, want %q", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			// Lambda's async retry delivers the last payload again: it
			// fails the same way and queues no new chain.
			queued := len(cont.payloads)
			last := cont.payloads[queued-1]
			if _, again := h.Handle(context.Background(), json.RawMessage(last)); again == nil || again.Error() != tt.wantErr {
				t.Errorf("retry of the last payload: %v, want %q", again, tt.wantErr)
			}
			if len(cont.payloads) != queued {
				t.Errorf("retry of the last payload queued %v", cont.payloads[queued:])
			}
		})
	}
}

func everyOne(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestRetryFailedStopsAtTheDeadline gives the end of a run too little time:
// no repository is started once the run is told to stop, and the error
// says which were not reached, so Lambda's retry (with a fresh deadline)
// tries them again. The stop decision is Handler.Stop; without it, the
// deadline.
func TestRetryFailedStopsAtTheDeadline(t *testing.T) {
	const payload = `{"action":"continue","dryRun":false,"retryFailed":true,"failed":["team-a/web","team-b/api"]}`
	tests := []struct {
		name string
		// stopAfter, when not negative, is how many times Stop answers
		// false before it answers true; negative leaves Stop unset.
		stopAfter int32
		// deadline, when set, is how far away the invocation's deadline is.
		deadline     time.Duration
		wantEnforced []string
		wantErr      string
	}{
		{name: "told to stop at once", stopAfter: 0,
			wantErr: "backfill complete but 2 repositories still fail (2 not reached before the deadline): team-a/web, team-b/api"},
		{name: "told to stop after one", stopAfter: 1, wantEnforced: []string{"team-a/web"},
			wantErr: "backfill complete but 1 repositories still fail (1 not reached before the deadline): team-b/api"},
		{name: "not told to stop", stopAfter: math.MaxInt32, wantEnforced: []string{"team-a/web", "team-b/api"}},
		// Without Stop the deadline decides. These deadlines are seconds
		// inside and minutes outside the 28 s margin, so no clock reading
		// during the test can change the outcome.
		{name: "no Stop, deadline inside the margin", stopAfter: -1, deadline: 20 * time.Second,
			wantErr: "backfill complete but 2 repositories still fail (2 not reached before the deadline): team-a/web, team-b/api"},
		{name: "no Stop, a fresh invocation's deadline", stopAfter: -1, deadline: 5 * time.Minute, wantEnforced: []string{"team-a/web", "team-b/api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enf := &fakeEnforcer{}
			// One at a time, so Stop is asked before each start in order.
			h := &Handler{Enforcer: enf, Baseline: &fakeBaseline{version: 3}, AccountID: "123456789012", Region: "us-east-1",
				StopBefore: 30 * time.Second, Reserve: 2 * time.Second, Concurrency: 1,
				Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			if tt.stopAfter >= 0 {
				var asked atomic.Int32
				h.Stop = func() bool { return asked.Add(1) > tt.stopAfter }
			}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			_, err := h.Handle(ctx, json.RawMessage(payload))
			if (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			var enforced []string
			for _, r := range enf.calls {
				enforced = append(enforced, r.Name)
			}
			if diff := cmp.Diff(tt.wantEnforced, enforced); diff != "" {
				t.Errorf("enforced (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTriggers shows what each archived write names as its cause: an
// event its id; a run the request id of the invocation that started it,
// carried by each continuation so every invocation names the same run.
func TestTriggers(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	started := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	later := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-2"})

	f := &fakeEnforcer{}
	h := &Handler{Enforcer: f, Baseline: &fakeBaseline{}, Logger: logger}
	if _, err := h.Handle(started, json.RawMessage(sample(t, "create-repository.json"))); err != nil {
		t.Fatal(err)
	}
	bf := &fakeBackfill{sum: backfill.Summary{NextToken: "tok"}}
	cont := &fakeContinuer{}
	h = &Handler{Backfill: bf, Baseline: &fakeBaseline{version: 7}, Continue: cont, ParameterName: "/ecr-baseline/baseline-policy", Logger: logger}
	if _, err := h.Handle(started, json.RawMessage(sample(t, "parameter-change.json"))); err != nil {
		t.Fatal(err)
	}
	if len(cont.payloads) != 1 {
		t.Fatalf("continuations %q, want one", cont.payloads)
	}
	// The continuation runs in another invocation, with its own request id.
	if _, err := h.Handle(later, json.RawMessage(cont.payloads[0])); err != nil {
		t.Fatal(err)
	}
	want := []string{"event:6f87d04b-9f74-4f04-a780-7acf4b0a9b38", "run:req-1", "run:req-1"}
	if diff := cmp.Diff(want, append(f.triggers, bf.triggers...)); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}
