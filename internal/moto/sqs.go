package moto

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SweepQueues are a sweep queue and its dead-letter queue, as the stack
// creates them.
type SweepQueues struct {
	URL, DeadLetterURL string
	MaxReceiveCount    int
}

// Env is the function's environment naming the queues.
func (q SweepQueues) Env() []string {
	return []string{"SWEEP_QUEUE_URL=" + q.URL, "SWEEP_DEAD_LETTER_QUEUE_URL=" + q.DeadLetterURL,
		"SWEEP_MAX_RECEIVE_COUNT=" + strconv.Itoa(q.MaxReceiveCount)}
}

// NewSweepQueues creates name and name-dlq, the first redriving to the
// second after maxReceiveCount receives. Its visibility timeout is an
// hour: the event source mapping emulator (internal/esm) returns a failed
// message at once, so none returns on its own while it is processed.
func NewSweepQueues(ctx context.Context, client *sqs.Client, name string, maxReceiveCount int) (SweepQueues, error) {
	q := SweepQueues{MaxReceiveCount: maxReceiveCount}
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return q, fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	q.DeadLetterURL = aws.ToString(dlq.QueueUrl)
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return q, fmt.Errorf("queue %s-dlq: %w", name, err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, attrs.Attributes["QueueArn"], maxReceiveCount)
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": "3600", "RedrivePolicy": redrive,
	}})
	if err != nil {
		return q, fmt.Errorf("create queue %s: %w", name, err)
	}
	q.URL = aws.ToString(out.QueueUrl)
	return q, nil
}

// Message is a message read back from a queue.
type Message struct {
	Body string
	// Attributes are its string message attributes.
	Attributes map[string]string
}

// Drain receives and deletes every message of url, for reading a
// dead-letter queue after a run.
func Drain(ctx context.Context, client *sqs.Client, url string) ([]Message, error) {
	var out []Message
	for {
		res, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			return out, fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(res.Messages) == 0 {
			return out, nil
		}
		for _, m := range res.Messages {
			msg := Message{Body: aws.ToString(m.Body), Attributes: map[string]string{}}
			for k, v := range m.MessageAttributes {
				msg.Attributes[k] = aws.ToString(v.StringValue)
			}
			out = append(out, msg)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return out, fmt.Errorf("delete from %s: %w", url, err)
			}
		}
	}
}
