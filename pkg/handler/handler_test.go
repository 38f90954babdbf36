package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
