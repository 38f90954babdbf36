package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestOperatorCannotSetRunState sends manual backfill payloads that carry a
// fleet run's state, and continuations no fleet run would queue: each is
// refused before the baseline is loaded, so none reaches a run, a
// continuation or the end-of-run retry. (Anyone allowed to invoke the
// function can still forge a live continuation; the SQS sweep of the next
// issue removes continuations from the invoke payload altogether.)
func TestOperatorCannotSetRunState(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		wantErr string
	}{
		{name: "console invoke asking for the end-of-run retry",
			payload: `{"action":"backfill","dryRun":false,"selfContinue":true,"retryFailed":true,"failed":["team-a/web","team-b/api"]}`,
			wantErr: `backfill request: json: unknown field "selfContinue"`},
		{name: "retry without selfContinue", payload: `{"action":"backfill","dryRun":false,"retryFailed":true,"failed":["team-a/web"]}`,
			wantErr: `backfill request: json: unknown field "retryFailed"`},
		{name: "a baseline version", payload: `{"action":"backfill","dryRun":false,"baselineVersion":7}`,
			wantErr: `backfill request: json: unknown field "baselineVersion"`},
		{name: "failures to carry", payload: `{"action":"backfill","dryRun":true,"failedUncarried":3}`,
			wantErr: `backfill request: json: unknown field "failedUncarried"`},
		{name: "a dry-run continuation asking for the retry, which enforces live",
			payload: `{"action":"continue","dryRun":true,"retryFailed":true,"failed":["team-a/web"]}`,
			wantErr: "continuation: retryFailed is never part of a dry run"},
		{name: "a continuation with an unknown field", payload: `{"action":"continue","dryRun":false,"bogus":1}`,
			wantErr: `continuation: json: unknown field "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enf, bf, bl, cont := &fakeEnforcer{}, &fakeBackfill{}, &fakeBaseline{version: 3}, &fakeContinuer{}
			h := &Handler{Enforcer: enf, Backfill: bf, Baseline: bl, Continue: cont, AccountID: "123456789012", Region: "us-east-1",
				Concurrency: 2, Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
			_, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if len(bl.loads)+len(bf.runs)+len(enf.calls)+len(cont.payloads) != 0 {
				t.Errorf("refused payload went on: %d baseline loads, %d runs, %d repositories enforced, %d continuations",
					len(bl.loads), len(bf.runs), len(enf.calls), len(cont.payloads))
			}
		})
	}
}
