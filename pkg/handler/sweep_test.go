package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
)

type fakeQueue struct {
	mu   sync.Mutex
	sent []sweep.Item
	err  error
	// refuse names repositories whose items SQS refuses: the send fails,
	// its other items are queued, as a partial SendMessageBatch does.
	refuse map[string]bool
}

func (f *fakeQueue) Send(_ context.Context, items []sweep.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	var refused error
	for _, it := range items {
		if f.refuse[it.Repository] {
			refused = errors.New("sweep queue: 1 of items refused: InternalError")
			continue
		}
		f.sent = append(f.sent, it)
	}
	return refused
}

type deadLettered struct {
	Body, Reason string
	Count        int
}

type fakeDeadLetter struct {
	mu   sync.Mutex
	sent []deadLettered
	err  error
}

func (f *fakeDeadLetter) Send(_ context.Context, body, reason string, count int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, deadLettered{body, reason, count})
	return nil
}

// fakeLister serves pages of names keyed by the token that asks for them
// ("" for the first); next maps a page to the token of the one after.
type fakeLister struct {
	pages map[string][]string
	next  map[string]string
	err   error
}

func (f *fakeLister) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	tok := aws.ToString(in.NextToken)
	out := &ecr.DescribeRepositoriesOutput{}
	for _, n := range f.pages[tok] {
		out.Repositories = append(out.Repositories, types.Repository{RepositoryName: aws.String(n)})
	}
	if next, ok := f.next[tok]; ok {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)) }

// TestSweepRequests: a manual sweep, the scheduled reconciliation and a
// parameter change each load the baseline, then queue one list item
// carrying its version; anything refused queues nothing.
func TestSweepRequests(t *testing.T) {
	change := sample(t, "parameter-change.json")
	start := func(dryRun bool, prefix string) []sweep.Item {
		return []sweep.Item{{Kind: sweep.KindList, DryRun: &dryRun, BaselineVersion: 7, Account: testAccount, Region: testRegion, Prefix: prefix}}
	}
	loadFailed := errors.New("load baseline /b: invalid repository policy: policy needs at least one statement")
	tests := []struct {
		name      string
		payload   string
		apply     bool
		account   string
		loadErr   error
		queueErr  error
		wantItems []sweep.Item
		wantLoads []int64
		wantErr   string
	}{
		{name: "manual dry run with prefix", payload: `{"action":"sweep","dryRun":true,"prefix":"team-a/"}`,
			wantItems: start(true, "team-a/"), wantLoads: []int64{0}},
		{name: "manual apply", payload: `{"action":"sweep","dryRun":false}`, wantItems: start(false, ""), wantLoads: []int64{0}},
		{name: "dryRun left out", payload: `{"action":"sweep","prefix":"team-a/"}`, wantErr: "dryRun is required: true to preview, false to apply"},
		{name: "dryRun null", payload: `{"action":"sweep","dryRun":null}`, wantErr: "dryRun is required: true to preview, false to apply"},
		{name: "an item's fields in a request", payload: `{"action":"sweep","dryRun":false,"baselineVersion":3}`,
			wantErr: `sweep request: json: unknown field "baselineVersion"`},
		{name: "the old backfill", payload: `{"action":"backfill","dryRun":true}`,
			wantErr: `unknown action "backfill": a request is "sweep" or "reconcile"`},
		{name: "wrong field type", payload: `{"action":"sweep","dryRun":"yes"}`,
			wantErr: "sweep request: json: cannot unmarshal string into Go struct field SweepRequest.dryRun of type bool"},
		{name: "reconcile without opt-in: a dry run", payload: `{"action":"reconcile"}`, wantItems: start(true, ""), wantLoads: []int64{0}},
		{name: "reconcile with opt-in", payload: `{"action":"reconcile"}`, apply: true, wantItems: start(false, ""), wantLoads: []int64{0}},
		{name: "reconcile told to write", payload: `{"action":"reconcile","dryRun":false}`,
			wantErr: "a reconcile request takes no dryRun or prefix: APPLY_TO_EXISTING_REPOSITORIES decides whether it writes"},
		{name: "baseline cannot be loaded: nothing queued", payload: `{"action":"sweep","dryRun":false}`, loadErr: loadFailed, wantLoads: []int64{0},
			wantErr: "sweep: nothing queued: " + loadFailed.Error()},
		{name: "queue refuses", payload: `{"action":"sweep","dryRun":false}`, queueErr: errors.New("AccessDenied"), wantLoads: []int64{0},
			wantErr: "sweep <id>: AccessDenied"},
		{name: "account unknown", payload: `{"action":"sweep","dryRun":false}`, account: "-",
			wantErr: "sweep: nothing queued: the function's account is unknown (SELF_ROLE_ARN)"},
		{name: "parameter change without opt-in: a dry run", payload: change, wantItems: start(true, ""), wantLoads: []int64{0}},
		{name: "parameter change with opt-in", payload: change, apply: true, wantItems: start(false, ""), wantLoads: []int64{0}},
		{name: "another parameter", payload: strings.ReplaceAll(change, "/ecr-baseline/baseline-policy", "/other")},
		{name: "baseline deleted", payload: strings.Replace(change, `"Update"`, `"Delete"`, 1),
			wantErr: "baseline parameter /ecr-baseline/baseline-policy was deleted"},
		{name: "malformed parameter change", payload: `{"source":"aws.ssm","detail-type":"Parameter Store Change","id":"x"}`,
			wantErr: "malformed parameter change event: event x lacks detail.name or detail.operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bl := &fakeBaseline{version: 7, err: tt.loadErr}
			q := &fakeQueue{err: tt.queueErr}
			account := testAccount
			if tt.account == "-" {
				account = ""
			}
			h := &Handler{Baseline: bl, Queue: q, ParameterName: "/ecr-baseline/baseline-policy", ApplyToExisting: tt.apply,
				AccountID: account, Region: testRegion, Logger: quietLogger()}
			got, err := h.Handle(context.Background(), json.RawMessage(tt.payload))
			// The sweep's id is random: <id> in a message.
			if err != nil {
				err = errors.New(regexp.MustCompile(`^sweep [0-9a-f]{16}:`).ReplaceAllString(err.Error(), "sweep <id>:"))
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			// The sweep's id is random: it must be the one the response
			// names, and the same on every item.
			for i := range q.sent {
				if got.Sweep == nil || q.sent[i].Sweep != got.Sweep.ID || got.Sweep.ID == "" {
					t.Fatalf("item %d names sweep %q; response %+v", i, q.sent[i].Sweep, got.Sweep)
				}
				q.sent[i].Sweep = ""
			}
			if diff := cmp.Diff(tt.wantItems, q.sent); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLoads, bl.loads); diff != "" {
				t.Errorf("baseline loads (-want +got):\n%s", diff)
			}
		})
	}
}

// message is a queue message of the batch tests.
func message(id string, it sweep.Item, receiveCount int) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: it.Encode(), EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receiveCount)}}
}

func batchPayload(t *testing.T, msgs ...events.SQSMessage) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func enforceItem(name string) sweep.Item {
	return sweep.Item{Kind: sweep.KindEnforce, Sweep: "s1", DryRun: aws.Bool(false), BaselineVersion: 7, Account: testAccount, Region: testRegion, Repository: name}
}

// TestBatch: each item of a sweep batch is a page to list or a repository
// to enforce; the response names exactly the items the queue must deliver
// again, and an item failing its last receive goes to the dead-letter
// queue with its reason instead.
func TestBatch(t *testing.T) {
	list := sweep.Item{Kind: sweep.KindList, Sweep: "s1", DryRun: aws.Bool(false), BaselineVersion: 7, Account: testAccount, Region: testRegion, Prefix: "team-a/"}
	dry := enforceItem("team-a/web")
	dry.DryRun = aws.Bool(true)
	foreign := enforceItem("team-a/web")
	foreign.Account = "999999999999"
	tests := []struct {
		name    string
		msgs    []events.SQSMessage
		failing map[string]bool
		lister  *fakeLister
		dlqErr  error
		// stopAfter, when not negative, is how many items start.
		stopAfter    int32
		refuse       map[string]bool
		wantFailures []string
		wantEnforced []string
		wantDry      []string
		wantQueued   []sweep.Item
		wantDead     []deadLettered
		wantLoads    []int64
	}{
		{name: "all enforced", msgs: []events.SQSMessage{message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 1)},
			wantEnforced: []string{"a", "b"}, wantLoads: []int64{7, 7}},
		// The one delivered more often starts first.
		{name: "a failure is delivered again", msgs: []events.SQSMessage{message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 2)},
			failing: map[string]bool{"b": true}, wantEnforced: []string{"b", "a"}, wantFailures: []string{"m2"}, wantLoads: []int64{7, 7}},
		{name: "a failure at its last receive is dead-lettered with the reason",
			msgs: []events.SQSMessage{message("m1", enforceItem("b"), 5)}, failing: map[string]bool{"b": true},
			wantEnforced: []string{"b"}, wantLoads: []int64{7},
			wantDead: []deadLettered{{Body: enforceItem("b").Encode(), Reason: "enforce b: set policy: denied", Count: 5}}},
		{name: "dead-lettering fails: SQS moves it itself", msgs: []events.SQSMessage{message("m1", enforceItem("b"), 5)},
			failing: map[string]bool{"b": true}, dlqErr: errors.New("AccessDenied"),
			wantEnforced: []string{"b"}, wantFailures: []string{"m1"}, wantLoads: []int64{7}},
		{name: "a dry-run item only reports", msgs: []events.SQSMessage{message("m1", dry, 1)}, wantDry: []string{"team-a/web"}, wantLoads: []int64{7}},
		{name: "a page queues its repositories in scope and the next page",
			msgs:   []events.SQSMessage{message("m1", list, 1)},
			lister: &fakeLister{pages: map[string][]string{"": {"team-a/web", "team-b/api", "team-a/db"}}, next: map[string]string{"": "p2"}},
			wantQueued: []sweep.Item{enforceItem("team-a/web"), enforceItem("team-a/db"),
				{Kind: sweep.KindList, Sweep: "s1", DryRun: aws.Bool(false), BaselineVersion: 7, Account: testAccount, Region: testRegion, Prefix: "team-a/", PageToken: "p2"}},
			wantLoads: []int64{7}},
		// The next page is queued only once every repository of this one
		// is: delivered again, the page queues its repositories twice,
		// never the rest of the registry's listing.
		{name: "a page whose repositories are not all queued does not queue the next page",
			msgs:   []events.SQSMessage{message("m1", list, 1)},
			lister: &fakeLister{pages: map[string][]string{"": {"team-a/web", "team-a/db"}}, next: map[string]string{"": "p2"}},
			refuse: map[string]bool{"team-a/db": true}, wantQueued: []sweep.Item{enforceItem("team-a/web")},
			wantFailures: []string{"m1"}, wantLoads: []int64{7}},
		{name: "a page that cannot be listed is delivered again", msgs: []events.SQSMessage{message("m1", list, 1)},
			lister: &fakeLister{err: errors.New("ThrottlingException")}, wantFailures: []string{"m1"}, wantLoads: []int64{7}},
		// An item that can never succeed is dead-lettered at once.
		{name: "malformed items are dead-lettered at once",
			msgs: []events.SQSMessage{{MessageId: "m1", EventSource: "aws:sqs", Body: `{"kind":"enforce"`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
				{MessageId: "m2", EventSource: "aws:sqs", Body: `{"kind":"wipe","sweep":"s1","dryRun":true,"account":"123456789012","region":"us-east-1"}`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
				{MessageId: "m3", EventSource: "aws:sqs", Body: `{"kind":"enforce","sweep":"s1","account":"123456789012","region":"us-east-1","repository":"a"}`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}},
			wantDead: []deadLettered{
				{Body: `{"kind":"enforce"`, Count: 1, Reason: "invalid sweep item: sweep item: unexpected EOF"},
				{Body: `{"kind":"wipe","sweep":"s1","dryRun":true,"account":"123456789012","region":"us-east-1"}`, Count: 1,
					Reason: `invalid sweep item: sweep item: kind "wipe" is neither "list" nor "enforce"`},
				// Without dryRun an item would write: refused, never read as false.
				{Body: `{"kind":"enforce","sweep":"s1","account":"123456789012","region":"us-east-1","repository":"a"}`, Count: 1,
					Reason: "invalid sweep item: sweep item: dryRun is required"}}},
		{name: "another registry's item is dead-lettered at once", msgs: []events.SQSMessage{message("m1", foreign, 1)},
			wantDead: []deadLettered{{Body: foreign.Encode(), Count: 1,
				Reason: "invalid sweep item: sweep s1: item for account 999999999999 in us-east-1, but this function enforces account 123456789012 in us-east-1"}}},
		{name: "items not started before the stop go back", stopAfter: 1,
			msgs:         []events.SQSMessage{message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 1), message("m3", enforceItem("c"), 1)},
			wantEnforced: []string{"a"}, wantFailures: []string{"m2", "m3"}, wantLoads: []int64{7}},
		// The item on its last receive starts first; one not started on
		// its last receive is dead-lettered with why, not moved by SQS
		// without a reason.
		{name: "an item not started on its last receive is dead-lettered", stopAfter: 1,
			msgs:         []events.SQSMessage{message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 5), message("m3", enforceItem("c"), 5)},
			wantEnforced: []string{"b"}, wantFailures: []string{"m1"}, wantLoads: []int64{7},
			wantDead: []deadLettered{{Body: enforceItem("c").Encode(), Count: 5, Reason: "not started before the invocation's deadline on its last receive"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live, dryRun := &fakeEnforcer{failing: tt.failing}, &fakeEnforcer{action: enforcer.WouldApply}
			bl, q, dlq := &fakeBaseline{version: 7}, &fakeQueue{refuse: tt.refuse}, &fakeDeadLetter{err: tt.dlqErr}
			h := &Handler{Enforcer: live, DryRunEnforcer: dryRun, Baseline: bl, Lister: tt.lister, Queue: q, DeadLetter: dlq, MaxReceiveCount: 5,
				AccountID: testAccount, Region: testRegion, Concurrency: 1, Logger: quietLogger()}
			if tt.stopAfter > 0 {
				var asked atomic.Int32
				h.Stop = func() bool { return asked.Add(1) > tt.stopAfter }
			}
			got, err := h.Handle(context.Background(), batchPayload(t, tt.msgs...))
			if err != nil {
				t.Fatalf("a batch invocation failed: %v", err)
			}
			var failures []string
			for _, f := range got.BatchItemFailures {
				failures = append(failures, f.ItemIdentifier)
			}
			names := func(f *fakeEnforcer) (out []string) {
				for _, r := range f.calls {
					out = append(out, r.Name)
				}
				return out
			}
			for _, c := range []struct {
				what      string
				want, got any
			}{
				{"batch item failures", tt.wantFailures, failures},
				{"enforced", tt.wantEnforced, names(live)},
				{"dry-run enforced", tt.wantDry, names(dryRun)},
				{"queued", tt.wantQueued, q.sent},
				{"dead-lettered", tt.wantDead, dlq.sent},
				{"baseline loads", tt.wantLoads, bl.loads},
			} {
				if diff := cmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.what, diff)
				}
			}
		})
	}
}

// TestBatchStopsStopBeforeTheLambdaDeadline: without Stop, a batch starts
// no item once the Lambda deadline is less than StopBefore away. The
// deadline is a fixed date in 2100, which the context reports without a
// timer (deadlineOnly), and Handler.Now says how far off it is: 20 s
// (inside the 28 s margin left once Reserve is cut) or an hour. No test
// clock is read and nothing waits.
func TestBatchStopsStopBeforeTheLambdaDeadline(t *testing.T) {
	deadline := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		left         time.Duration
		wantEnforced int
	}{{20 * time.Second, 0}, {time.Hour, 2}} {
		t.Run(tt.left.String(), func(t *testing.T) {
			live := &fakeEnforcer{}
			h := &Handler{Enforcer: live, Baseline: &fakeBaseline{version: 7}, AccountID: testAccount, Region: testRegion,
				StopBefore: 30 * time.Second, Reserve: 2 * time.Second, Concurrency: 1, Logger: quietLogger(),
				Now: func() time.Time { return deadline.Add(-tt.left) }}
			got, err := h.Handle(deadlineOnly{context.Background(), deadline}, batchPayload(t, message("m1", enforceItem("a"), 1), message("m2", enforceItem("b"), 1)))
			if err != nil {
				t.Fatal(err)
			}
			if len(live.calls) != tt.wantEnforced || len(got.BatchItemFailures) != 2-tt.wantEnforced {
				t.Errorf("enforced %d and returned %d items; want %d enforced, the rest returned", len(live.calls), len(got.BatchItemFailures), tt.wantEnforced)
			}
		})
	}
}

// deadlineOnly is a context that reports a Lambda deadline, as the
// runtime's does, but never ends: the handler reads how far off it is from
// Handler.Now, and no timer races the test.
type deadlineOnly struct {
	context.Context
	at time.Time
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.at, true }

// TestTriggers shows what each archived write names as its cause: an
// event its id, a sweep item its sweep.
func TestTriggers(t *testing.T) {
	f := &fakeEnforcer{}
	h := &Handler{Enforcer: f, Baseline: &fakeBaseline{}, AccountID: testAccount, Region: testRegion, Concurrency: 1, Logger: quietLogger()}
	if _, err := h.Handle(context.Background(), json.RawMessage(sample(t, "create-repository.json"))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), batchPayload(t, message("m1", enforceItem("a"), 1))); err != nil {
		t.Fatal(err)
	}
	want := []string{"event:6f87d04b-9f74-4f04-a780-7acf4b0a9b38", "sweep:s1"}
	if diff := cmp.Diff(want, f.triggers); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}

// fakeMembers has one member account, 111122223333, in two regions.
type fakeMembers struct {
	enforcer *fakeEnforcer
	lister   *fakeLister
	// failing names accounts whose role cannot be assumed.
	failing map[string]bool
}

const memberAccount = "111122223333"

func (f *fakeMembers) Registry(_ context.Context, account, region string) (Registry, error) {
	switch {
	case f.failing[account]:
		return Registry{}, errors.New("assume arn:aws:iam::" + account + ":role/ecr-baseline-member: AccessDenied")
	case account != memberAccount:
		return Registry{}, errors.New("not a member")
	case region != "us-east-1" && region != "eu-west-1":
		return Registry{}, errors.New("region " + region + " is not covered")
	}
	return Registry{Enforcer: f.enforcer, DryRunEnforcer: f.enforcer, Lister: f.lister,
		OwnRoleARN: "arn:aws:iam::" + account + ":role/ecr-baseline-member"}, nil
}

func (f *fakeMembers) Targets(context.Context) ([]Target, error) {
	return []Target{{memberAccount, "eu-west-1"}, {memberAccount, "us-east-1"}}, nil
}

// TestOrganization: a hub enforces a member's events in the member's
// registry, skips the member role's own writes, refuses an event from any
// other account, and sweeps its own registry and every member target.
func TestOrganization(t *testing.T) {
	inAccount := func(file, account, region string) json.RawMessage {
		moved := string(samples.Relocated(t, samples.Read(t, file), account, region))
		// In a member account the function writes as the member role.
		return json.RawMessage(strings.ReplaceAll(moved, "role/EcrBaseline-EnforcerRole", "role/ecr-baseline-member"))
	}
	tests := []struct {
		name         string
		payload      json.RawMessage
		wantOwn      int
		wantMember   int
		wantSkipped  bool
		wantErr      string
		wantStarts   []string
		wantFailures []string
	}{
		{name: "the hub's own repository", payload: json.RawMessage(sample(t, "create-repository.json")), wantOwn: 1},
		{name: "a member's repository", payload: inAccount("create-repository.json", memberAccount, "eu-west-1"), wantMember: 1},
		{name: "the member role's own write", payload: inAccount("set-repository-policy-by-enforcer.json", memberAccount, "us-east-1"),
			wantSkipped: true},
		{name: "an account that is no member", payload: inAccount("create-repository.json", "999999999999", "us-east-1"),
			wantErr: "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: account 999999999999 in us-east-1: not a member"},
		{name: "a member's uncovered region", payload: inAccount("create-repository.json", memberAccount, "ap-south-1"),
			wantErr: "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: account 111122223333 in ap-south-1: region ap-south-1 is not covered"},
		{name: "a sweep covers the hub and every member target", payload: json.RawMessage(`{"action":"sweep","dryRun":true}`),
			wantStarts: []string{"111122223333/eu-west-1", "111122223333/us-east-1", "123456789012/us-east-1"}},
		{name: "a member item whose role cannot be assumed fails alone",
			payload: batchPayload(t,
				message("m1", sweep.Item{Kind: sweep.KindEnforce, Sweep: "s1", DryRun: aws.Bool(false), Account: memberAccount, Region: "us-east-1", Repository: "a"}, 1),
				message("m2", sweep.Item{Kind: sweep.KindEnforce, Sweep: "s1", DryRun: aws.Bool(false), Account: "444455556666", Region: "us-east-1", Repository: "b"}, 1),
				message("m3", enforceItem("c"), 1)),
			wantOwn: 1, wantMember: 1, wantFailures: []string{"m2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own, member, q := &fakeEnforcer{}, &fakeEnforcer{carries: true}, &fakeQueue{}
			h := &Handler{Enforcer: own, DryRunEnforcer: own, Baseline: &fakeBaseline{version: 2}, Queue: q,
				Members:   &fakeMembers{enforcer: member, failing: map[string]bool{"444455556666": true}},
				AccountID: testAccount, Region: testRegion, SelfRoleARN: "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole",
				Concurrency: 1, Logger: quietLogger()}
			res, err := h.Handle(context.Background(), tt.payload)
			if (tt.wantErr == "") != (err == nil) || err != nil && err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if len(own.calls) != tt.wantOwn || len(member.calls) != tt.wantMember {
				t.Errorf("enforced %d at home and %d in members, want %d and %d", len(own.calls), len(member.calls), tt.wantOwn, tt.wantMember)
			}
			if got := len(res.Results) == 1 && res.Results[0].Action == enforcer.Skipped; got != tt.wantSkipped {
				t.Errorf("results %+v, want skipped %v", res.Results, tt.wantSkipped)
			}
			var starts []string
			for _, it := range q.sent {
				starts = append(starts, it.Account+"/"+it.Region)
			}
			if diff := cmp.Diff(tt.wantStarts, starts); diff != "" {
				t.Errorf("list items (-want +got):\n%s", diff)
			}
			var failures []string
			for _, f := range res.BatchItemFailures {
				failures = append(failures, f.ItemIdentifier)
			}
			if diff := cmp.Diff(tt.wantFailures, failures); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
		})
	}
}

// cancellingEnforcer ends the invocation's context, as its deadline
// would, and fails as a call cut by it does.
type cancellingEnforcer struct {
	fakeEnforcer
	cancel context.CancelFunc
}

func (c *cancellingEnforcer) Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	c.cancel()
	return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed}, ctx.Err()
}

// liveDeadLetter refuses a send whose context has ended, as the SDK does.
type liveDeadLetter struct{ fakeDeadLetter }

func (l *liveDeadLetter) Send(ctx context.Context, body, reason string, count int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.fakeDeadLetter.Send(ctx, body, reason, count)
}

// TestDeadLetterAfterTheDeadline: an item whose last receive runs out the
// invocation's time, and one it leaves unstarted, are still dead-lettered
// with their reasons: the sends get the reserve the work's context no
// longer has. The deadline is a cancelled context, no clock.
func TestDeadLetterAfterTheDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlq := &liveDeadLetter{}
	rec := &fakeRecorder{}
	h := &Handler{Enforcer: &cancellingEnforcer{cancel: cancel}, Baseline: &fakeBaseline{version: 7}, DeadLetter: dlq, MaxReceiveCount: 5,
		AccountID: testAccount, Region: testRegion, Reserve: 2 * time.Second, Concurrency: 1, Metrics: rec, Logger: quietLogger()}
	got, err := h.Handle(ctx, batchPayload(t, message("m1", enforceItem("a"), 5), message("m2", enforceItem("b"), 5)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.BatchItemFailures) != 0 || len(dlq.sent) != 2 {
		t.Fatalf("returned %v, dead-lettered %+v; want both dead-lettered", got.BatchItemFailures, dlq.sent)
	}
	if dlq.sent[1].Reason != "not started before the invocation's deadline on its last receive" {
		t.Errorf("the unstarted item's reason: %q", dlq.sent[1].Reason)
	}
	if len(rec.got) != 1 || rec.got[0].Failed != 2 || rec.got[0].Sweep != "s1" {
		t.Errorf("records %+v; want one for sweep s1 counting two failures", rec.got)
	}
}
