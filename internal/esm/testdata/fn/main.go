// Command fn is the function the esm tests run as a real bootstrap: it
// handles events.SQSEvent and answers events.SQSEventResponse, as the
// enforcer will, doing for each record what its body says:
//
//	ok       nothing
//	fail     report it in batchItemFailures
//	error    fail the whole invocation
//	spawn    send an "ok" message to QUEUE_URL (work that makes more work)
//	barrier  before anything, GET BARRIER_URL once per invocation (the test
//	         answers it when enough invocations are in the function at once)
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS configuration:", err)
		os.Exit(1)
	}
	f := function{sqs: sqs.NewFromConfig(cfg), queueURL: os.Getenv("QUEUE_URL"), barrierURL: os.Getenv("BARRIER_URL")}
	lambda.Start(f.handle)
}

type function struct {
	sqs                  *sqs.Client
	queueURL, barrierURL string
}

func (f function) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	for _, r := range ev.Records {
		if r.Body == "barrier" {
			if err := f.barrier(ctx); err != nil {
				return events.SQSEventResponse{}, err
			}
			break
		}
	}
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		switch r.Body {
		case "ok", "barrier":
		case "fail":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		case "error":
			return events.SQSEventResponse{}, errors.New("the batch holds an error record")
		case "spawn":
			if _, err := f.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.queueURL), MessageBody: aws.String("ok")}); err != nil {
				return events.SQSEventResponse{}, fmt.Errorf("spawn: %w", err)
			}
		default:
			return events.SQSEventResponse{}, fmt.Errorf("unknown body %q", r.Body)
		}
	}
	return resp, nil
}

func (f function) barrier(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.barrierURL, nil)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return resp.Body.Close()
}
