// Package esm is a test emulator of a Lambda event source mapping on an
// Amazon SQS standard queue, the way internal/runtimeapi emulates the
// Runtime API: it polls a queue (moto's, in the tests), invokes the function
// with batches in the documented SQS event shape and deletes or returns each
// message the way Lambda does. moto has SQS but runs no mapping.
//
// What it emulates, with its source in the AWS documentation:
//
//   - The event: {"Records":[…]} with messageId, receiptHandle, body,
//     attributes (the system attributes SQS returns: ApproximateReceiveCount,
//     SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp),
//     messageAttributes, md5OfBody, eventSource "aws:sqs", eventSourceARN
//     and awsRegion — "Using Lambda with Amazon SQS",
//     https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html. A message
//     with attributes also carries md5OfMessageAttributes and each attribute
//     the shape of aws-lambda-go's events.SQSMessageAttribute, as in that
//     library's captured sample (events/testdata/sqs-event.json).
//   - Batches: at most BatchSize records (1 to 10, default 10; above 10
//     AWS requires a batching window, which waits for the clock) — the
//     BatchSize parameter of CreateEventSourceMapping,
//     https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html.
//   - A batch whose invocation succeeds is deleted. A function error (a
//     timeout is one) leaves every message of the batch to return after the
//     queue's visibility timeout — "Handling errors for an SQS event source
//     in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html.
//   - With ReportBatchItemFailures, only the messages the response lists in
//     batchItemFailures return; the others are deleted. An empty or null
//     batchItemFailures list and an empty or null response are a complete
//     success; an invalid JSON response, an empty or null itemIdentifier, an
//     item without the itemIdentifier key and an itemIdentifier that names
//     no message of the batch are a complete failure — same page, "Success
//     and failure conditions" (judge documents how the emulator reads the
//     cases that list does not name). Without ReportBatchItemFailures the
//     response is ignored.
//   - At most MaximumConcurrency invocations at once (2 to 1000; unset, 5:
//     Lambda starts an SQS mapping at five concurrent batches and scales up
//     by the minute, which is clock-driven and not emulated) — "Configuring
//     scaling behavior for SQS event source mappings",
//     https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html,
//     and https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html.
//
// The dead-letter queue is not the mapping's business but SQS's: "When the
// ReceiveCount for a message exceeds the maxReceiveCount for a queue, Amazon
// SQS moves the message to the dead-letter-queue" (SetQueueAttributes,
// RedrivePolicy). moto 5.2.5 implements exactly that in ReceiveMessage: a
// message received maxReceiveCount times is moved, on the next receive, to
// the queue the source queue's RedrivePolicy names. The emulator relies on
// it and emulates nothing there.
//
// moto's SQS loses or revives messages under concurrent calls: every
// moto.Server's URL passes SQS calls one at a time (moto.SerialSQS), so
// the mapping's calls and the function's sends never meet inside moto. A
// mapping also makes its own calls one at a time, which keeps it safe in
// front of any endpoint.
//
// Deliberate differences, each so that no test waits for the clock:
//
//   - A failed message is made visible again at once
//     (ChangeMessageVisibility to 0) instead of when the queue's visibility
//     timeout ends: the visibility timeout elapses at once for a failed
//     message, and only for it. Give the test queue a long visibility
//     timeout (an hour) so that no message returns while it is being
//     processed. moto counts the receive as it would after a real timeout,
//     so ApproximateReceiveCount and maxReceiveCount behave as in AWS.
//   - Drain polls without waiting (no long polling) and ends when the queue
//     is empty, instead of polling forever; it refuses a queue that sets
//     ReceiveMessageWaitTimeSeconds (an empty receive would wait: the SDK
//     cannot send WaitTimeSeconds 0, it omits a zero), a FIFO queue (not
//     emulated), and it fails rather than waits when what is left is
//     delayed or held by another consumer.
//   - No batching window, no backoff after errors, no payload size limit, no
//     scaling by the minute; a timeout is whatever the Invoke reports as a
//     function error (see RuntimeInvoke).
package esm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Invoke runs the function once with an SQS event payload. functionErr
// reports that the function returned an error (the Runtime API's /error);
// err is a failure of the emulator or its transport, which stops Drain.
type Invoke func(ctx context.Context, payload []byte) (response []byte, functionErr bool, err error)

// SQS is the part of the SQS API a mapping calls.
type SQS interface {
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// Limits and defaults of CreateEventSourceMapping for an SQS standard queue
// without a batching window.
const (
	DefaultBatchSize          = 10
	MaxBatchSize              = 10
	DefaultMaximumConcurrency = 5
	MinMaximumConcurrency     = 2
	MaxMaximumConcurrency     = 1000
)

// Mapping is one event source mapping from a queue to a function.
type Mapping struct {
	SQS SQS
	// QueueURL is the queue polled; its ARN (the event's eventSourceARN)
	// and region (awsRegion) are read from the queue.
	QueueURL string
	// BatchSize is the most records per event, 1 to 10; 0 means 10.
	BatchSize int
	// MaximumConcurrency is the most invocations at once, 2 to 1000; 0
	// means unset, which runs 5.
	MaximumConcurrency      int
	ReportBatchItemFailures bool
	Invoke                  Invoke
}

// Stats is what a Drain did.
type Stats struct {
	// Invocations is how many batches the function was invoked with.
	Invocations int
	// Records counts the records of those batches, redeliveries included.
	Records int
	// Deleted counts the messages deleted after their batch succeeded.
	Deleted int
	// Returned counts the messages made visible again after a failure.
	Returned int
	// ItemFailures counts the records valid partial batch responses listed.
	ItemFailures int
	// FunctionErrors counts the invocations that returned an error.
	FunctionErrors int
	// InvalidResponses counts the invocations whose response made their
	// batch a complete failure.
	InvalidResponses int
}

func (s *Stats) add(o Stats) {
	s.Invocations += o.Invocations
	s.Records += o.Records
	s.Deleted += o.Deleted
	s.Returned += o.Returned
	s.ItemFailures += o.ItemFailures
	s.FunctionErrors += o.FunctionErrors
	s.InvalidResponses += o.InvalidResponses
}

// Drain runs the mapping until the queue holds no message, visible or in
// flight, messages the function sends to the queue meanwhile included (a
// sweep enqueues more work as it goes), and returns what it did. It stops
// at the first error of the emulator or of an SQS call, after the
// invocations in flight have returned; the batch whose invocation failed
// that way is left in flight, as Lambda leaves a batch it could not
// invoke until its visibility timeout ends.
func (m *Mapping) Drain(ctx context.Context) (Stats, error) {
	batchSize, concurrency, err := m.limits()
	if err != nil {
		return Stats{}, err
	}
	run := *m
	run.SQS = &oneAtATime{next: m.SQS}
	m = &run
	src, err := m.source(ctx)
	if err != nil {
		return Stats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		stats    Stats
		firstErr error
		inFlight int
		// Buffered so that a finished batch never waits for the loop: at
		// most concurrency batches are unaccounted for at once.
		done = make(chan batchResult, concurrency)
	)
	// fail keeps the first error and cancels the batches in flight: their
	// outcome no longer matters.
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	absorb := func() {
		r := <-done
		inFlight--
		stats.add(r.stats)
		if r.err != nil {
			fail(r.err)
		}
	}
	for {
		if firstErr != nil {
			for inFlight > 0 {
				absorb()
			}
			return stats, firstErr
		}
		// A batch holds its slot until its messages are deleted or
		// returned, so at most concurrency invocations run at once.
		if inFlight == concurrency {
			absorb()
			continue
		}
		msgs, err := m.receive(ctx, batchSize)
		if err != nil {
			fail(err)
			continue
		}
		if len(msgs) > 0 {
			inFlight++
			go func() { done <- m.process(ctx, src, msgs) }()
			continue
		}
		// Nothing visible now, but a batch in flight may still return
		// messages or send new ones: poll again once it is over.
		if inFlight > 0 {
			absorb()
			continue
		}
		empty, err := m.empty(ctx)
		if err != nil {
			fail(err)
			continue
		}
		if empty {
			return stats, nil
		}
	}
}

// oneAtATime passes one SQS call at a time: the batches in flight delete
// and return messages while the loop receives, and moto's SQS undoes a
// delete or a move to the dead-letter queue that overlaps another delete.
type oneAtATime struct {
	mu   sync.Mutex
	next SQS
}

var _ SQS = (*oneAtATime)(nil)

func (o *oneAtATime) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next.GetQueueAttributes(ctx, in, opts...)
}

func (o *oneAtATime) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next.ReceiveMessage(ctx, in, opts...)
}

func (o *oneAtATime) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next.DeleteMessageBatch(ctx, in, opts...)
}

func (o *oneAtATime) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

func (m *Mapping) limits() (batchSize, concurrency int, err error) {
	batchSize, concurrency = m.BatchSize, m.MaximumConcurrency
	if batchSize == 0 {
		batchSize = DefaultBatchSize
	}
	if concurrency == 0 {
		concurrency = DefaultMaximumConcurrency
	}
	switch {
	case m.SQS == nil || m.Invoke == nil || m.QueueURL == "":
		return 0, 0, errors.New("esm: SQS, QueueURL and Invoke are required")
	case batchSize < 1 || batchSize > MaxBatchSize:
		return 0, 0, fmt.Errorf("esm: BatchSize %d: must be 1 to %d (more needs a batching window, not emulated)", m.BatchSize, MaxBatchSize)
	case concurrency < MinMaximumConcurrency || concurrency > MaxMaximumConcurrency:
		return 0, 0, fmt.Errorf("esm: MaximumConcurrency %d: must be %d to %d, or 0 for unset", m.MaximumConcurrency, MinMaximumConcurrency, MaxMaximumConcurrency)
	}
	return batchSize, concurrency, nil
}

// queueSource is what the event says about the queue.
type queueSource struct{ arn, region string }

// source reads the queue's ARN and refuses the queues Drain could only
// serve by waiting for the clock.
func (m *Mapping) source(ctx context.Context) (queueSource, error) {
	attrs, err := m.attributes(ctx, types.QueueAttributeNameAll)
	if err != nil {
		return queueSource{}, err
	}
	if attrs[string(types.QueueAttributeNameFifoQueue)] == "true" {
		return queueSource{}, fmt.Errorf("esm: queue %s is a FIFO queue: not emulated", m.QueueURL)
	}
	if w := attrs[string(types.QueueAttributeNameReceiveMessageWaitTimeSeconds)]; w != "" && w != "0" {
		return queueSource{}, fmt.Errorf("esm: queue %s sets ReceiveMessageWaitTimeSeconds %s: every empty receive would wait that long; create the test queue without long polling", m.QueueURL, w)
	}
	arn := attrs[string(types.QueueAttributeNameQueueArn)]
	region, err := regionOf(arn)
	if err != nil {
		return queueSource{}, fmt.Errorf("esm: queue %s: %w", m.QueueURL, err)
	}
	return queueSource{arn: arn, region: region}, nil
}

func (m *Mapping) attributes(ctx context.Context, names ...types.QueueAttributeName) (map[string]string, error) {
	out, err := m.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(m.QueueURL),
		AttributeNames: names,
	})
	if err != nil {
		return nil, fmt.Errorf("esm: get attributes of %s: %w", m.QueueURL, err)
	}
	return out.Attributes, nil
}

func (m *Mapping) receive(ctx context.Context, batchSize int) ([]types.Message, error) {
	out, err := m.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(m.QueueURL),
		MaxNumberOfMessages:         int32(batchSize),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("esm: receive from %s: %w", m.QueueURL, err)
	}
	return out.Messages, nil
}

// empty reports whether the queue holds no message. Drain asks only when
// no batch is in flight, which is what makes the answer final: every
// message the mapping received has been deleted or made visible again
// before its batch ended, and every message a function sent was accepted
// by SendMessage before its invocation returned, so each of them is
// counted (moto counts exactly, from its message list). Zero visible and
// zero in flight then means nothing is left, and nothing more can come
// but from outside the mapping.
//
// A message made visible at once is visible from moto's next microsecond;
// the receive that precedes this question is a full HTTP round trip later.
func (m *Mapping) empty(ctx context.Context) (bool, error) {
	attrs, err := m.attributes(ctx,
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	if err != nil {
		return false, err
	}
	count := func(name types.QueueAttributeName) (int, error) {
		n, err := strconv.Atoi(attrs[string(name)])
		if err != nil {
			return 0, fmt.Errorf("esm: queue %s: attribute %s: %w", m.QueueURL, name, err)
		}
		return n, nil
	}
	visible, err := count(types.QueueAttributeNameApproximateNumberOfMessages)
	if err != nil {
		return false, err
	}
	notVisible, err := count(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	if err != nil {
		return false, err
	}
	delayed, err := count(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	if err != nil {
		return false, err
	}
	switch {
	case visible > 0:
		// Became visible after the receive (sent from outside): poll again.
		return false, nil
	case notVisible > 0:
		return false, fmt.Errorf("esm: queue %s: %d messages in flight outside this mapping: they return only when their visibility timeout ends, which Drain does not wait for", m.QueueURL, notVisible)
	case delayed > 0:
		return false, fmt.Errorf("esm: queue %s: %d delayed messages: Drain does not wait for their delay", m.QueueURL, delayed)
	}
	return true, nil
}

type batchResult struct {
	stats Stats
	err   error
}

// process invokes the function with one batch and deletes or returns each
// of its messages according to the outcome.
func (m *Mapping) process(ctx context.Context, src queueSource, msgs []types.Message) batchResult {
	st := Stats{Invocations: 1, Records: len(msgs)}
	payload, err := event(msgs, src)
	if err != nil {
		return batchResult{st, err}
	}
	ids := make([]string, len(msgs))
	for i, msg := range msgs {
		ids[i] = aws.ToString(msg.MessageId)
	}
	response, functionErr, err := m.Invoke(ctx, payload)
	if err != nil {
		return batchResult{st, fmt.Errorf("esm: invoke: %w", err)}
	}
	v := judge(m.ReportBatchItemFailures, functionErr, response, ids)
	switch v.outcome {
	case outcomeFunctionError:
		st.FunctionErrors++
	case outcomeInvalidResponse:
		st.InvalidResponses++
	case outcomePartial:
		st.ItemFailures += len(v.failed)
	}
	failed := make(map[string]bool, len(v.failed))
	for _, id := range v.failed {
		failed[id] = true
	}
	var keep, drop []types.Message
	for _, msg := range msgs {
		if failed[aws.ToString(msg.MessageId)] {
			keep = append(keep, msg)
		} else {
			drop = append(drop, msg)
		}
	}
	if err := m.delete(ctx, drop); err != nil {
		return batchResult{st, err}
	}
	st.Deleted = len(drop)
	if err := m.release(ctx, keep); err != nil {
		return batchResult{st, err}
	}
	st.Returned = len(keep)
	return batchResult{st, nil}
}

func (m *Mapping) delete(ctx context.Context, msgs []types.Message) error {
	return settle(m.QueueURL, "delete", msgs,
		func(id, handle *string) types.DeleteMessageBatchRequestEntry {
			return types.DeleteMessageBatchRequestEntry{Id: id, ReceiptHandle: handle}
		},
		func(entries []types.DeleteMessageBatchRequestEntry) ([]types.BatchResultErrorEntry, error) {
			out, err := m.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.QueueURL), Entries: entries})
			if err != nil {
				return nil, err
			}
			return out.Failed, nil
		})
}

// release makes failed messages visible again at once: the one deliberate
// difference from Lambda, which leaves them until the visibility timeout
// ends (see the package comment).
func (m *Mapping) release(ctx context.Context, msgs []types.Message) error {
	return settle(m.QueueURL, "return", msgs,
		func(id, handle *string) types.ChangeMessageVisibilityBatchRequestEntry {
			return types.ChangeMessageVisibilityBatchRequestEntry{Id: id, ReceiptHandle: handle}
		},
		func(entries []types.ChangeMessageVisibilityBatchRequestEntry) ([]types.BatchResultErrorEntry, error) {
			out, err := m.SQS.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(m.QueueURL), Entries: entries})
			if err != nil {
				return nil, err
			}
			return out.Failed, nil
		})
}

// settle deletes or returns msgs with one batch call (a batch is at most
// 10 messages, the most an SQS batch call takes); an entry that fails is
// an error like the call failing.
func settle[E any](queueURL, op string, msgs []types.Message, entry func(id, handle *string) E, call func([]E) ([]types.BatchResultErrorEntry, error)) error {
	if len(msgs) == 0 {
		return nil
	}
	entries := make([]E, len(msgs))
	for i, msg := range msgs {
		entries[i] = entry(aws.String(strconv.Itoa(i)), msg.ReceiptHandle)
	}
	failed, err := call(entries)
	if err != nil {
		return fmt.Errorf("esm: %s %d messages on %s: %w", op, len(msgs), queueURL, err)
	}
	if len(failed) > 0 {
		f := failed[0]
		return fmt.Errorf("esm: %s %d messages on %s: %d entries failed, first %s: %s: %s", op, len(msgs), queueURL, len(failed), aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return nil
}
