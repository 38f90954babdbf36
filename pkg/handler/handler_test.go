package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
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

type fakeBaseline struct {
	// mu guards loads: a sweep batch loads per item, concurrently.
	mu          sync.Mutex
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads = append(f.loads, minVersion)
	return max(f.version, minVersion), f.err
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
