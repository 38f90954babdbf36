package esm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJudge holds the emulator to "Success and failure conditions" of
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html,
// one row per condition listed there, then the cases it leaves to the
// emulator's reading (see judge).
func TestJudge(t *testing.T) {
	batch := []string{"id1", "id2", "id3"}
	tests := []struct {
		name        string
		report      bool
		functionErr bool
		response    string
		want        verdict
		wantInvalid string // itemFailures' reason, for invalid responses
	}{
		// Lambda treats a batch as a complete success if your function returns …
		{name: "an empty batchItemFailures list", report: true, response: `{"batchItemFailures":[]}`, want: verdict{outcome: outcomeSuccess}},
		{name: "a null batchItemFailures list", report: true, response: `{"batchItemFailures":null}`, want: verdict{outcome: outcomeSuccess}},
		{name: "an empty EventResponse", report: true, response: `{}`, want: verdict{outcome: outcomeSuccess}},
		{name: "a null EventResponse", report: true, response: `null`, want: verdict{outcome: outcomeSuccess}},
		// Lambda treats a batch as a complete failure if your function returns …
		{name: "an invalid JSON response", report: true, response: `{"batchItemFailures":[`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "invalid JSON response: unexpected end of JSON input"},
		{name: "an empty string itemIdentifier", report: true, response: `{"batchItemFailures":[{"itemIdentifier":""}]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0].itemIdentifier is empty"},
		{name: "a null itemIdentifier", report: true, response: `{"batchItemFailures":[{"itemIdentifier":null}]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0].itemIdentifier is null"},
		{name: "an itemIdentifier with a bad key name", report: true, response: `{"batchItemFailures":[{"messageId":"id2"}]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0]: no itemIdentifier key"},
		{name: "an itemIdentifier value with a message ID that doesn't exist", report: true, response: `{"batchItemFailures":[{"itemIdentifier":"id2"},{"itemIdentifier":"id9"}]}`,
			want: verdict{outcomeInvalidResponse, batch}, wantInvalid: `batchItemFailures[1].itemIdentifier "id9": not a message of the batch`},
		// Partial batch response and function errors ("Implementing partial batch responses").
		{name: "listed messages fail, the others succeed", report: true, response: `{"batchItemFailures":[{"itemIdentifier":"id3"},{"itemIdentifier":"id1"}]}`,
			want: verdict{outcomePartial, []string{"id3", "id1"}}},
		{name: "a function error fails the whole batch", report: true, functionErr: true, response: `{"batchItemFailures":[{"itemIdentifier":"id1"}]}`,
			want: verdict{outcomeFunctionError, batch}},
		{name: "without ReportBatchItemFailures a function error fails the whole batch", functionErr: true, want: verdict{outcomeFunctionError, batch}},
		{name: "without ReportBatchItemFailures the response is not read", response: `{"batchItemFailures":[{"itemIdentifier":"id1"}]}`,
			want: verdict{outcome: outcomeSuccess}},
		{name: "without ReportBatchItemFailures even invalid JSON succeeds", response: `{`, want: verdict{outcome: outcomeSuccess}},
		// The emulator's reading where the list is silent.
		{name: "a message listed twice returns once", report: true, response: `{"batchItemFailures":[{"itemIdentifier":"id2"},{"itemIdentifier":"id2"}]}`,
			want: verdict{outcomePartial, []string{"id2"}}},
		{name: "keys are case-sensitive", report: true, response: `{"batchItemFailures":[{"ItemIdentifier":"id2"}]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0]: no itemIdentifier key"},
		{name: "a misspelt batchItemFailures is an empty response", report: true, response: `{"batchItemfailures":[{"itemIdentifier":"id2"}]}`, want: verdict{outcome: outcomeSuccess}},
		{name: "a response that is not an object", report: true, response: `[]`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "invalid JSON response: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{name: "batchItemFailures that is not an array", report: true, response: `{"batchItemFailures":"id2"}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures: json: cannot unmarshal string into Go value of type []map[string]json.RawMessage"},
		{name: "an itemIdentifier that is not a string", report: true, response: `{"batchItemFailures":[{"itemIdentifier":2}]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0].itemIdentifier: json: cannot unmarshal number into Go value of type string"},
		{name: "a null item", report: true, response: `{"batchItemFailures":[null]}`, want: verdict{outcomeInvalidResponse, batch},
			wantInvalid: "batchItemFailures[0]: no itemIdentifier key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := judge(tt.report, tt.functionErr, []byte(tt.response), batch)
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(verdict{})); d != "" {
				t.Errorf("verdict (-want +got):\n%s", d)
			}
			if tt.wantInvalid == "" {
				return
			}
			_, err := itemFailures([]byte(tt.response), batch)
			if err == nil || err.Error() != tt.wantInvalid {
				t.Errorf("reason %v, want %q", err, tt.wantInvalid)
			}
		})
	}
}
