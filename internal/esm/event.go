package esm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsEvent is the event Lambda invokes the function with, its fields in
// the documented order ("Example standard queue message event").
type sqsEvent struct {
	Records []record `json:"Records"`
}

type record struct {
	MessageID     string            `json:"messageId"`
	ReceiptHandle string            `json:"receiptHandle"`
	Body          string            `json:"body"`
	Attributes    map[string]string `json:"attributes"`
	// MessageAttributes is {} for a message without any, as documented.
	MessageAttributes      map[string]messageAttribute `json:"messageAttributes"`
	MD5OfMessageAttributes string                      `json:"md5OfMessageAttributes,omitempty"`
	MD5OfBody              string                      `json:"md5OfBody"`
	EventSource            string                      `json:"eventSource"`
	EventSourceARN         string                      `json:"eventSourceARN"`
	AWSRegion              string                      `json:"awsRegion"`
}

// messageAttribute is one message attribute as Lambda passes it: lower
// camel case, binary values in base64 (encoding/json's []byte), the list
// values SQS reserves always present as arrays.
type messageAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// eventSource is the eventSource of every SQS record.
const eventSource = "aws:sqs"

// event is the payload for one batch.
func event(msgs []types.Message, src queueSource) ([]byte, error) {
	ev := sqsEvent{Records: make([]record, len(msgs))}
	for i, msg := range msgs {
		attrs := msg.Attributes
		if attrs == nil {
			attrs = map[string]string{}
		}
		ev.Records[i] = record{
			MessageID:              aws.ToString(msg.MessageId),
			ReceiptHandle:          aws.ToString(msg.ReceiptHandle),
			Body:                   aws.ToString(msg.Body),
			Attributes:             attrs,
			MessageAttributes:      messageAttributes(msg.MessageAttributes),
			MD5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
			MD5OfBody:              aws.ToString(msg.MD5OfBody),
			EventSource:            eventSource,
			EventSourceARN:         src.arn,
			AWSRegion:              src.region,
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("esm: encode event: %w", err)
	}
	return b, nil
}

func messageAttributes(in map[string]types.MessageAttributeValue) map[string]messageAttribute {
	out := make(map[string]messageAttribute, len(in))
	for name, v := range in {
		a := messageAttribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
		if a.StringListValues == nil {
			a.StringListValues = []string{}
		}
		if a.BinaryListValues == nil {
			a.BinaryListValues = [][]byte{}
		}
		out[name] = a
	}
	return out
}

// regionOf reads the region of an ARN (arn:partition:service:region:…).
func regionOf(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] == "" {
		return "", fmt.Errorf("queue ARN %q has no region", arn)
	}
	return parts[3], nil
}
