package sweep

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	start := Start("s1", true, 3, "123456789012", "eu-west-1", "team-a/")
	tests := []struct {
		name, body string
		want       Item
		wantErr    string
	}{
		{name: "round trip", body: start.Encode(), want: start},
		{name: "an unknown field", body: `{"kind":"list","sweep":"s1","dryRun":true,"account":"1","region":"r","force":true}`,
			wantErr: `sweep item: json: unknown field "force"`},
		{name: "two objects", body: start.Encode() + start.Encode(), wantErr: "sweep item: trailing data after the JSON object"},
		{name: "every problem", body: `{"kind":"enforce","prefix":"x"}`,
			wantErr: "sweep item: sweep is empty; dryRun is required; account and region are required; an enforce item names its repository; an enforce item has no prefix or page token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body)
			if (tt.wantErr == "") != (err == nil) || err != nil && err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("item (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// fakeSQS records each batch and refuses the entries whose body contains
// refuse.
type fakeSQS struct {
	batches [][]string
	refuse  string
	sent    []*sqs.SendMessageInput
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var bodies []string
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		bodies = append(bodies, aws.ToString(e.MessageBody))
		if f.refuse != "" && strings.Contains(aws.ToString(e.MessageBody), f.refuse) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
		}
	}
	f.batches = append(f.batches, bodies)
	return out, nil
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{}, nil
}

// TestSend: ten items per call, and an entry SQS refuses fails the send
// with its code.
func TestSend(t *testing.T) {
	items := make([]Item, 23)
	for i := range items {
		items[i] = Item{Kind: KindEnforce, Sweep: "s1", Repository: strings.Repeat("r", i+1)}
	}
	f := &fakeSQS{}
	if err := (Queue{SQS: f, URL: "q"}).Send(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if len(f.batches) != 3 || len(f.batches[0]) != 10 || len(f.batches[2]) != 3 {
		t.Errorf("batches of %d, %d, %d; want 10, 10, 3", len(f.batches[0]), len(f.batches[1]), len(f.batches[2]))
	}
	f = &fakeSQS{refuse: `"repository":"rrr"`}
	err := (Queue{SQS: f, URL: "q"}).Send(context.Background(), items[:5])
	if want := "sweep queue: 1 of 5 items refused: InternalError: try again"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if err := (Queue{SQS: f}).Send(context.Background(), items); err == nil {
		t.Error("a queue without a URL sent")
	}
}

// TestDeadLetterReason: a reason too long for a message attribute is cut
// on a character boundary, so SQS accepts it.
func TestDeadLetterReason(t *testing.T) {
	f := &fakeSQS{}
	reason := strings.Repeat("é", maxReason) // two bytes each
	if err := (DeadLetter{SQS: f, URL: "dlq"}).Send(context.Background(), "body", reason, 5); err != nil {
		t.Fatal(err)
	}
	got := aws.ToString(f.sent[0].MessageAttributes[AttributeReason].StringValue)
	if !utf8.ValidString(got) || len(got) > maxReason+len("…") || aws.ToString(f.sent[0].MessageBody) != "body" {
		t.Errorf("reason of %d bytes (valid UTF-8 %v), body %q", len(got), utf8.ValidString(got), aws.ToString(f.sent[0].MessageBody))
	}
}
