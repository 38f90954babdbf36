package esm

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
)

// server is moto; its URL passes SQS calls one at a time (moto.SerialSQS),
// as a mapping calls SQS concurrently, which moto's SQS does not survive.
var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

// visibilityTimeout is the test queues' visibility timeout: long enough
// that no message returns while it is being processed, so only the
// emulator's failures make messages visible again.
const visibilityTimeout = "3600"

// queue is a source queue on an emptied moto, with a dead-letter queue
// when its redrive policy has one.
type queue struct {
	sqs         *sqs.Client
	url, arn    string
	dlqURL      string
	maxReceives int
}

// newQueue empties moto and creates the queue "work", redriving to
// "work-dlq" after maxReceives receives when maxReceives > 0.
func newQueue(t *testing.T, maxReceives int, attrs map[string]string) *queue {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{sqs: sqs.NewFromConfig(cfg), maxReceives: maxReceives}
	a := map[string]string{string(types.QueueAttributeNameVisibilityTimeout): visibilityTimeout}
	if maxReceives > 0 {
		q.dlqURL = q.create(t, "work-dlq", nil)
		dlqARN := q.attr(t, q.dlqURL, types.QueueAttributeNameQueueArn)
		a[string(types.QueueAttributeNameRedrivePolicy)] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, dlqARN, maxReceives)
	}
	for k, v := range attrs {
		a[k] = v
	}
	name := "work"
	if attrs[string(types.QueueAttributeNameFifoQueue)] == "true" {
		name = "work.fifo"
	}
	q.url = q.create(t, name, a)
	q.arn = q.attr(t, q.url, types.QueueAttributeNameQueueArn)
	return q
}

func (q *queue) create(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := q.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (q *queue) attr(t *testing.T, url string, name types.QueueAttributeName) string {
	t.Helper()
	out, err := q.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{name}})
	if err != nil {
		t.Fatalf("get %s of %s: %v", name, url, err)
	}
	return out.Attributes[string(name)]
}

// send sends one message per body, in order, and returns their IDs.
func (q *queue) send(t *testing.T, bodies ...string) []string {
	t.Helper()
	ids := make([]string, len(bodies))
	for i, body := range bodies {
		out, err := q.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(body)})
		if err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
		ids[i] = aws.ToString(out.MessageId)
	}
	return ids
}

// mapping is a mapping of the queue with the test's settings.
func (q *queue) mapping(invoke Invoke, reportItemFailures bool) *Mapping {
	return &Mapping{SQS: q.sqs, QueueURL: q.url, ReportBatchItemFailures: reportItemFailures, Invoke: invoke}
}

// assertEmpty checks the source queue holds no message in any state.
func (q *queue) assertEmpty(t *testing.T) {
	t.Helper()
	for _, name := range []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	} {
		if n := q.attr(t, q.url, name); n != "0" {
			t.Errorf("source queue %s = %s after Drain, want 0", name, n)
		}
	}
}

// deadLetters reads every message of the dead-letter queue, by ID.
func (q *queue) deadLetters(t *testing.T) map[string]string {
	t.Helper()
	got := map[string]string{}
	if q.dlqURL == "" {
		return got
	}
	for {
		out, err := q.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.dlqURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("read the dead-letter queue: %v", err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.MessageId)] = aws.ToString(m.Body)
		}
	}
}

// function is a Lambda function written in Go: it decodes each event as
// the real function does, with aws-lambda-go's events.SQSEvent, records
// it, and answers what respond says.
type function struct {
	respond func(events.SQSEvent) (response string, functionErr bool)

	mu       sync.Mutex
	events   []events.SQSEvent
	payloads [][]byte
}

func (f *function) invoke(_ context.Context, payload []byte) ([]byte, bool, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, false, fmt.Errorf("decode event: %w", err)
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.payloads = append(f.payloads, payload)
	f.mu.Unlock()
	resp, functionErr := f.respond(ev)
	return []byte(resp), functionErr, nil
}

// receives lists, for each message ID, the ApproximateReceiveCount of
// each delivery in order.
func (f *function) receives() map[string][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := map[string][]int{}
	for _, ev := range f.events {
		for _, r := range ev.Records {
			n, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
			got[r.MessageId] = append(got[r.MessageId], n)
		}
	}
	return got
}

// byBody answers as a function that does what each body says: "ok"
// succeeds, "fail" always and "fail-once" on its first receive are
// reported in batchItemFailures, "error" always and "error-once" on its
// first receive fail the invocation.
func byBody(ev events.SQSEvent) (string, bool) {
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		first := r.Attributes["ApproximateReceiveCount"] == "1"
		switch {
		case r.Body == "error", r.Body == "error-once" && first:
			return "", true
		case r.Body == "fail", r.Body == "fail-once" && first:
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	b, _ := json.Marshal(resp)
	return string(b), false
}

// onFirstReceive answers response (built from the event) to a batch
// received for the first time, and an empty response after.
func onFirstReceive(response func(events.SQSEvent) string) func(events.SQSEvent) (string, bool) {
	return func(ev events.SQSEvent) (string, bool) {
		if ev.Records[0].Attributes["ApproximateReceiveCount"] == "1" {
			return response(ev), false
		}
		return "{}", false
	}
}

func constant(s string) func(events.SQSEvent) string {
	return func(events.SQSEvent) string { return s }
}

// TestDrain checks each documented rule against moto: what is deleted,
// what returns (and is received again with ApproximateReceiveCount one
// higher) and what SQS moves to the dead-letter queue after exactly
// maxReceiveCount receives.
func TestDrain(t *testing.T) {
	tests := []struct {
		name        string
		report      bool
		maxReceives int
		bodies      []string
		respond     func(events.SQSEvent) (string, bool)
		want        Stats
		// receives is, per body, the ApproximateReceiveCount of each
		// delivery; deadLetters the bodies SQS moved to the DLQ.
		receives    [][]int
		deadLetters []int
	}{
		{
			name: "success deletes every message", report: true,
			bodies: []string{"ok", "ok", "ok", "ok", "ok"}, respond: byBody,
			want:     Stats{Invocations: 1, Records: 5, Deleted: 5},
			receives: [][]int{{1}, {1}, {1}, {1}, {1}},
		},
		{
			name: "partial failure returns exactly the listed messages", report: true,
			bodies: []string{"ok", "fail-once", "ok"}, respond: byBody,
			want:     Stats{Invocations: 2, Records: 4, Deleted: 3, Returned: 1, ItemFailures: 1},
			receives: [][]int{{1}, {1, 2}, {1}},
		},
		{
			name:   "without ReportBatchItemFailures listed failures are deleted too",
			bodies: []string{"ok", "fail", "ok"}, respond: byBody,
			want:     Stats{Invocations: 1, Records: 3, Deleted: 3},
			receives: [][]int{{1}, {1}, {1}},
		},
		{
			name: "a function error returns the whole batch", report: true,
			bodies: []string{"ok", "error-once"}, respond: byBody,
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, FunctionErrors: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name:   "without ReportBatchItemFailures a function error returns the whole batch",
			bodies: []string{"ok", "error-once"}, respond: byBody,
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, FunctionErrors: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "an invalid JSON response returns the whole batch", report: true,
			bodies: []string{"ok", "ok"}, respond: onFirstReceive(constant(`{"batchItemFailures":[`)),
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, InvalidResponses: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "an empty itemIdentifier returns the whole batch", report: true,
			bodies: []string{"ok", "ok"}, respond: onFirstReceive(constant(`{"batchItemFailures":[{"itemIdentifier":""}]}`)),
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, InvalidResponses: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "a null itemIdentifier returns the whole batch", report: true,
			bodies: []string{"ok", "ok"}, respond: onFirstReceive(constant(`{"batchItemFailures":[{"itemIdentifier":null}]}`)),
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, InvalidResponses: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "a bad key name returns the whole batch", report: true,
			bodies: []string{"ok", "ok"},
			respond: onFirstReceive(func(ev events.SQSEvent) string {
				return fmt.Sprintf(`{"batchItemFailures":[{"messageId":%q}]}`, ev.Records[0].MessageId)
			}),
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, InvalidResponses: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "a message ID not in the batch returns the whole batch", report: true,
			bodies: []string{"ok", "ok"},
			respond: onFirstReceive(func(ev events.SQSEvent) string {
				return fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q},{"itemIdentifier":"not-in-the-batch"}]}`, ev.Records[0].MessageId)
			}),
			want:     Stats{Invocations: 2, Records: 4, Deleted: 2, Returned: 2, InvalidResponses: 1},
			receives: [][]int{{1, 2}, {1, 2}},
		},
		{
			name: "a null response is a complete success", report: true,
			bodies: []string{"ok", "ok"}, respond: onFirstReceive(constant(`null`)),
			want:     Stats{Invocations: 1, Records: 2, Deleted: 2},
			receives: [][]int{{1}, {1}},
		},
		{
			name: "a null batchItemFailures is a complete success", report: true,
			bodies: []string{"ok", "ok"}, respond: onFirstReceive(constant(`{"batchItemFailures":null}`)),
			want:     Stats{Invocations: 1, Records: 2, Deleted: 2},
			receives: [][]int{{1}, {1}},
		},
		{
			name: "a message failing every time goes to the DLQ after maxReceiveCount receives", report: true, maxReceives: 3,
			bodies: []string{"fail", "ok"}, respond: byBody,
			want:     Stats{Invocations: 3, Records: 4, Deleted: 1, Returned: 3, ItemFailures: 3},
			receives: [][]int{{1, 2, 3}, {1}}, deadLetters: []int{0},
		},
		{
			name: "a batch failing every time goes to the DLQ after maxReceiveCount receives", maxReceives: 2,
			bodies: []string{"error", "ok"}, respond: byBody,
			want:     Stats{Invocations: 2, Records: 4, Returned: 4, FunctionErrors: 2},
			receives: [][]int{{1, 2}, {1, 2}}, deadLetters: []int{0, 1},
		},
		{
			name: "a message that succeeds on its last receive stays out of the DLQ", report: true, maxReceives: 2,
			bodies: []string{"fail-once"}, respond: byBody,
			want:     Stats{Invocations: 2, Records: 2, Deleted: 1, Returned: 1, ItemFailures: 1},
			receives: [][]int{{1, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, tt.maxReceives, nil)
			ids := q.send(t, tt.bodies...)
			fn := &function{respond: tt.respond}
			got, err := q.mapping(fn.invoke, tt.report).Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("stats (-want +got):\n%s", d)
			}
			wantReceives := map[string][]int{}
			for i, id := range ids {
				wantReceives[id] = tt.receives[i]
			}
			if d := cmp.Diff(wantReceives, fn.receives()); d != "" {
				t.Errorf("receive counts per message (-want +got):\n%s", d)
			}
			q.assertEmpty(t)
			wantDead := map[string]string{}
			for _, i := range tt.deadLetters {
				wantDead[ids[i]] = tt.bodies[i]
			}
			if d := cmp.Diff(wantDead, q.deadLetters(t)); d != "" {
				t.Errorf("dead-letter queue (-want +got):\n%s", d)
			}
		})
	}
}

// TestEvent checks the payload against the documented event shape, key by
// key, and decodes it with aws-lambda-go as the function will.
func TestEvent(t *testing.T) {
	q := newQueue(t, 0, nil)
	ctx := context.Background()
	withAttrs, err := q.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.url),
		MessageBody: aws.String(`{"repository":"team-a/web"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"team":  {DataType: aws.String("String"), StringValue: aws.String("a")},
			"count": {DataType: aws.String("Number"), StringValue: aws.String("7")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := q.send(t, "plain")[0]
	fn := &function{respond: byBody}
	if _, err := q.mapping(fn.invoke, true).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fn.payloads) != 1 {
		t.Fatalf("%d invocations, want 1", len(fn.payloads))
	}

	var raw struct {
		Records []map[string]json.RawMessage
	}
	if err := json.Unmarshal(fn.payloads[0], &raw); err != nil {
		t.Fatal(err)
	}
	documented := []string{"attributes", "awsRegion", "body", "eventSource", "eventSourceARN", "md5OfBody", "messageAttributes", "messageId", "receiptHandle"}
	keys := func(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }
	withMD5 := slices.Sorted(slices.Values(append(slices.Clone(documented), "md5OfMessageAttributes")))
	if d := cmp.Diff(withMD5, keys(raw.Records[0])); d != "" {
		t.Errorf("keys of a record with message attributes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(documented, keys(raw.Records[1])); d != "" {
		t.Errorf("keys of a record without (-want +got):\n%s", d)
	}
	if got := string(raw.Records[1]["messageAttributes"]); got != "{}" {
		t.Errorf("messageAttributes of a message without any = %s, want {}", got)
	}

	ev := fn.events[0]
	sum := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	for i, r := range ev.Records {
		if r.EventSource != "aws:sqs" || r.EventSourceARN != q.arn || r.AWSRegion != moto.Region {
			t.Errorf("record %d source = %q %q %q, want aws:sqs %q %q", i, r.EventSource, r.EventSourceARN, r.AWSRegion, q.arn, moto.Region)
		}
		if r.Md5OfBody != sum(r.Body) {
			t.Errorf("record %d md5OfBody = %s, want the MD5 of %q", i, r.Md5OfBody, r.Body)
		}
		if r.ReceiptHandle == "" {
			t.Errorf("record %d has no receipt handle", i)
		}
		if d := cmp.Diff([]string{"ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"}, slices.Sorted(maps.Keys(r.Attributes))); d != "" {
			t.Errorf("record %d attributes (-want +got):\n%s", i, d)
		}
		if r.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("record %d ApproximateReceiveCount = %s, want 1", i, r.Attributes["ApproximateReceiveCount"])
		}
	}
	if ev.Records[0].MessageId != aws.ToString(withAttrs.MessageId) || ev.Records[1].MessageId != plain {
		t.Errorf("message IDs %s %s, want %s %s", ev.Records[0].MessageId, ev.Records[1].MessageId, aws.ToString(withAttrs.MessageId), plain)
	}
	if ev.Records[0].Body != `{"repository":"team-a/web"}` || ev.Records[1].Body != "plain" {
		t.Errorf("bodies %q %q", ev.Records[0].Body, ev.Records[1].Body)
	}
	if got, want := ev.Records[0].Md5OfMessageAttributes, aws.ToString(withAttrs.MD5OfMessageAttributes); got != want {
		t.Errorf("md5OfMessageAttributes = %s, want %s (SendMessage's)", got, want)
	}
	wantAttrs := map[string]events.SQSMessageAttribute{
		"team":  {StringValue: aws.String("a"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "String"},
		"count": {StringValue: aws.String("7"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Number"},
		"blob":  {BinaryValue: []byte{0, 1, 2}, StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Binary"},
	}
	if d := cmp.Diff(wantAttrs, ev.Records[0].MessageAttributes); d != "" {
		t.Errorf("message attributes (-want +got):\n%s", d)
	}
}

// TestMaximumConcurrency proves the bound is reached and never exceeded:
// the first invocations wait for one another until the bound is in flight,
// so a mapping that ran fewer at once would never release them; an atomic
// count of invocations in flight catches one more.
func TestMaximumConcurrency(t *testing.T) {
	tests := []struct {
		name               string
		maximumConcurrency int
		want               int
	}{
		{"unset runs five", 0, DefaultMaximumConcurrency},
		{"the minimum", MinMaximumConcurrency, 2},
		{"three", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, 0, nil)
			bodies := make([]string, 4*tt.want)
			for i := range bodies {
				bodies[i] = "ok"
			}
			q.send(t, bodies...)
			var (
				inFlight, peak, arrived atomic.Int32
				full                    = make(chan struct{})
			)
			invoke := func(ctx context.Context, payload []byte) ([]byte, bool, error) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if k := arrived.Add(1); k == int32(tt.want) {
					close(full)
				} else if k < int32(tt.want) {
					select {
					case <-full:
					case <-ctx.Done():
						return nil, false, ctx.Err()
					}
				}
				return []byte("{}"), false, nil
			}
			m := q.mapping(invoke, true)
			m.BatchSize = 1
			m.MaximumConcurrency = tt.maximumConcurrency
			got, err := m.Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if p := int(peak.Load()); p != tt.want {
				t.Errorf("peak concurrency %d, want %d", p, tt.want)
			}
			if d := cmp.Diff(Stats{Invocations: len(bodies), Records: len(bodies), Deleted: len(bodies)}, got); d != "" {
				t.Errorf("stats (-want +got):\n%s", d)
			}
			q.assertEmpty(t)
		})
	}
}

// TestBatchSize: 25 messages in batches of at most 4 are 7 invocations,
// since none fails and all are visible from the start.
func TestBatchSize(t *testing.T) {
	q := newQueue(t, 0, nil)
	bodies := make([]string, 25)
	for i := range bodies {
		bodies[i] = "ok"
	}
	q.send(t, bodies...)
	fn := &function{respond: byBody}
	m := q.mapping(fn.invoke, true)
	m.BatchSize = 4
	got, err := m.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Invocations: 7, Records: 25, Deleted: 25}, got); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
	for i, ev := range fn.events {
		if len(ev.Records) > 4 {
			t.Errorf("event %d holds %d records, want at most 4", i, len(ev.Records))
		}
	}
}

// TestMessagesSentWhileDraining: each "depth:N" message sends two
// "depth:N-1" while it is processed, so one depth:3 is 15 messages, all
// consumed by the same Drain.
func TestMessagesSentWhileDraining(t *testing.T) {
	q := newQueue(t, 0, nil)
	q.send(t, "depth:3")
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	invoke := func(ctx context.Context, payload []byte) ([]byte, bool, error) {
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, false, err
		}
		for _, r := range ev.Records {
			mu.Lock()
			seen[r.Body]++
			mu.Unlock()
			depth, err := strconv.Atoi(strings.TrimPrefix(r.Body, "depth:"))
			if err != nil {
				return nil, false, err
			}
			for range min(depth, 1) * 2 {
				child := fmt.Sprintf("depth:%d", depth-1)
				if _, err := q.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(child)}); err != nil {
					return nil, false, err
				}
			}
		}
		return []byte("{}"), false, nil
	}
	m := q.mapping(invoke, true)
	m.BatchSize = 3
	got, err := m.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != 15 || got.Deleted != 15 || got.Returned != 0 {
		t.Errorf("stats %+v, want 15 records, all deleted", got)
	}
	if d := cmp.Diff(map[string]int{"depth:3": 1, "depth:2": 2, "depth:1": 4, "depth:0": 8}, seen); d != "" {
		t.Errorf("bodies processed (-want +got):\n%s", d)
	}
	q.assertEmpty(t)
}

// TestDrainStops: what Drain refuses or stops on, with the error it
// returns, rather than waiting for a clock.
func TestDrainStops(t *testing.T) {
	boom := func(context.Context, []byte) ([]byte, bool, error) { return nil, false, errors.New("boom") }
	ok := func(context.Context, []byte) ([]byte, bool, error) { return []byte("{}"), false, nil }
	tests := []struct {
		name      string
		attrs     map[string]string
		setup     func(t *testing.T, q *queue)
		configure func(m *Mapping)
		invoke    Invoke
		want      Stats
		wantErr   string
	}{
		{
			name: "an emulator error stops Drain, the batch unsettled",
			setup: func(t *testing.T, q *queue) {
				q.send(t, "ok")
			},
			invoke: boom, want: Stats{Invocations: 1, Records: 1}, wantErr: "esm: invoke: boom",
		},
		{
			name: "a message held by another consumer is not waited for",
			setup: func(t *testing.T, q *queue) {
				q.send(t, "ok")
				if _, err := q.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url)}); err != nil {
					t.Fatal(err)
				}
			},
			invoke: ok, wantErr: "1 messages in flight outside this mapping",
		},
		{
			name: "a delayed message is not waited for",
			setup: func(t *testing.T, q *queue) {
				if _, err := q.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String("ok"), DelaySeconds: 900}); err != nil {
					t.Fatal(err)
				}
			},
			invoke: ok, wantErr: "1 delayed messages: Drain does not wait for their delay",
		},
		{
			name:   "a queue with long polling",
			attrs:  map[string]string{string(types.QueueAttributeNameReceiveMessageWaitTimeSeconds): "20"},
			invoke: ok, wantErr: "sets ReceiveMessageWaitTimeSeconds 20",
		},
		{
			name:   "a FIFO queue",
			attrs:  map[string]string{string(types.QueueAttributeNameFifoQueue): "true"},
			invoke: ok, wantErr: "is a FIFO queue: not emulated",
		},
		{
			name:      "a queue that does not exist",
			configure: func(m *Mapping) { m.QueueURL += "-missing" },
			invoke:    ok, wantErr: "esm: get attributes of",
		},
		{name: "BatchSize above 10", configure: func(m *Mapping) { m.BatchSize = 11 }, invoke: ok, wantErr: "esm: BatchSize 11: must be 1 to 10"},
		{name: "MaximumConcurrency 1", configure: func(m *Mapping) { m.MaximumConcurrency = 1 }, invoke: ok, wantErr: "esm: MaximumConcurrency 1: must be 2 to 1000, or 0 for unset"},
		{name: "MaximumConcurrency 1001", configure: func(m *Mapping) { m.MaximumConcurrency = 1001 }, invoke: ok, wantErr: "esm: MaximumConcurrency 1001: must be 2 to 1000"},
		{name: "no function", invoke: nil, wantErr: "esm: SQS, QueueURL and Invoke are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, 0, tt.attrs)
			if tt.setup != nil {
				tt.setup(t, q)
			}
			m := q.mapping(tt.invoke, true)
			if tt.configure != nil {
				tt.configure(m)
			}
			got, err := m.Drain(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("stats (-want +got):\n%s", d)
			}
		})
	}
}
