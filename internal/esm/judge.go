package esm

import (
	"encoding/json"
	"fmt"
)

// outcome is how Lambda reads one invocation of a batch.
type outcome int

const (
	outcomeSuccess         outcome = iota // every message is deleted
	outcomePartial                        // the listed messages return, the others are deleted
	outcomeFunctionError                  // every message returns
	outcomeInvalidResponse                // every message returns
)

// verdict is the outcome of one invocation and the messages that return to
// the queue (every message of the batch for a complete failure).
type verdict struct {
	outcome outcome
	failed  []string
}

// judge applies "Success and failure conditions" of partial batch
// responses (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)
// to one invocation of the batch whose message IDs are batch.
//
// Where that list is silent (undocumented, so the emulator's choice) the
// response is read the way a strict decoder of the documented syntax
// {"batchItemFailures":[{"itemIdentifier":"…"}]} would: keys match
// exactly, case included; valid JSON that is not an object or null, a
// batchItemFailures that is not an array or null, an item that is not an
// object and an itemIdentifier that is not a string are invalid (complete
// failure). Other keys are ignored, as decoding into a response type such
// as aws-lambda-go's events.SQSEventResponse ignores them, so a misspelt
// batchItemFailures is an empty response: a complete success, which deletes
// the messages the function meant to fail — what a test of that function
// should see. A message listed twice returns once.
func judge(reportItemFailures, functionErr bool, response []byte, batch []string) verdict {
	if functionErr {
		return verdict{outcome: outcomeFunctionError, failed: batch}
	}
	if !reportItemFailures {
		return verdict{outcome: outcomeSuccess}
	}
	// Why a response is invalid is for the tests of itemFailures: Lambda
	// reports no reason either.
	failed, err := itemFailures(response, batch)
	switch {
	case err != nil:
		return verdict{outcome: outcomeInvalidResponse, failed: batch}
	case len(failed) == 0:
		return verdict{outcome: outcomeSuccess}
	}
	return verdict{outcome: outcomePartial, failed: failed}
}

func itemFailures(response []byte, batch []string) ([]string, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(response, &resp); err != nil {
		return nil, fmt.Errorf("invalid JSON response: %w", err)
	}
	var items []map[string]json.RawMessage
	if raw, ok := resp["batchItemFailures"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("batchItemFailures: %w", err)
		}
	}
	inBatch := make(map[string]bool, len(batch))
	for _, id := range batch {
		inBatch[id] = true
	}
	var failed []string
	seen := map[string]bool{}
	for i, item := range items {
		raw, ok := item["itemIdentifier"]
		if !ok {
			return nil, fmt.Errorf("batchItemFailures[%d]: no itemIdentifier key", i)
		}
		var id *string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, fmt.Errorf("batchItemFailures[%d].itemIdentifier: %w", i, err)
		}
		switch {
		case id == nil:
			return nil, fmt.Errorf("batchItemFailures[%d].itemIdentifier is null", i)
		case *id == "":
			return nil, fmt.Errorf("batchItemFailures[%d].itemIdentifier is empty", i)
		case !inBatch[*id]:
			return nil, fmt.Errorf("batchItemFailures[%d].itemIdentifier %q: not a message of the batch", i, *id)
		case !seen[*id]:
			seen[*id] = true
			failed = append(failed, *id)
		}
	}
	return failed, nil
}
