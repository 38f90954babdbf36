package sweep

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Sender is the SQS call that queues items.
type Sender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Queue is the sweep queue.
type Queue struct {
	SQS Sender
	URL string
}

// maxBatch is SendMessageBatch's limit on entries.
const maxBatch = 10

// Send queues items, ten to a call. An entry SQS refused fails Send with
// its code: the item being consumed then fails and comes back, and its
// page is listed and queued again (enforcing twice is idempotent), so
// nothing is lost.
func (q Queue) Send(ctx context.Context, items []Item) error {
	if q.URL == "" {
		return fmt.Errorf("sweep queue: no queue URL (SWEEP_QUEUE_URL)")
	}
	for start := 0; start < len(items); start += maxBatch {
		chunk := items[start:min(start+maxBatch, len(items))]
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, it := range chunk {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(it.Encode())}
		}
		out, err := q.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("sweep queue: send %d items: %w", len(chunk), err)
		}
		if len(out.Failed) > 0 {
			var failed []string
			for _, f := range out.Failed {
				failed = append(failed, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
			}
			return fmt.Errorf("sweep queue: %d of %d items refused: %s", len(out.Failed), len(chunk), strings.Join(failed, "; "))
		}
	}
	return nil
}

// Lister is the ECR call a list item makes.
type Lister interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// pageSize is DescribeRepositories' largest page: a registry of N
// repositories takes N/1000 list items.
const pageSize = 1000

// Page lists the page a list item names and returns the enforce item of
// each repository in scope and, when there are more pages, the list item
// of the next one.
func Page(ctx context.Context, client Lister, it Item) (repos []Item, next *Item, err error) {
	in := &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(pageSize)}
	if it.PageToken != "" {
		in.NextToken = aws.String(it.PageToken)
	}
	out, err := client.DescribeRepositories(ctx, in)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep %s: describe repositories: %w", it.Sweep, err)
	}
	for _, repo := range out.Repositories {
		name := aws.ToString(repo.RepositoryName)
		if !strings.HasPrefix(name, it.Prefix) {
			continue
		}
		repos = append(repos, Item{Kind: KindEnforce, Sweep: it.Sweep, DryRun: it.DryRun, BaselineVersion: it.BaselineVersion,
			Account: it.Account, Region: it.Region, Repository: name})
	}
	if out.NextToken != nil {
		more := it
		more.PageToken = *out.NextToken
		next = &more
	}
	return repos, next, nil
}

// MessageSender is the SQS call that dead-letters an item.
type MessageSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// DeadLetter is the sweep queue's dead-letter queue. SQS moves an item
// there by itself once its receives exceed the queue's maxReceiveCount,
// but as it was, without why it failed; the function sends an item that
// failed its last allowed receive there itself, with the reason as
// message attributes, and lets SQS's own move cover the case where that
// send fails.
type DeadLetter struct {
	SQS MessageSender
	URL string
}

// Message attributes of a dead-lettered item.
const (
	AttributeReason       = "reason"
	AttributeReceiveCount = "receiveCount"
)

// maxReason keeps the reason well inside SQS's message size limit.
const maxReason = 4096

// Send queues body, unchanged, with reason and receiveCount attributes.
func (d DeadLetter) Send(ctx context.Context, body, reason string, receiveCount int) error {
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…"
	}
	_, err := d.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(d.URL),
		MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttributeReason:       {DataType: aws.String("String"), StringValue: aws.String(reason)},
			AttributeReceiveCount: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(receiveCount))},
		},
	})
	if err != nil {
		return fmt.Errorf("sweep dead-letter queue: %w", err)
	}
	return nil
}
