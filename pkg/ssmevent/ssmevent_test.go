package ssmevent

import (
	"errors"
	"strings"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
)

func TestParse(t *testing.T) {
	got, err := Parse(samples.Read(t, "parameter-change.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := ParameterChange{ID: "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", Name: "/ecr-baseline/baseline-policy", Operation: "Update"}
	if got != want {
		t.Errorf("Parse = %+v, want %+v", got, want)
	}
}

func TestParseBadInput(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"truncated", `{"source":"aws.ssm"`, "unexpected end of JSON input"},
		{"other source", `{"source":"aws.ecr","detail-type":"Parameter Store Change"}`, `source "aws.ecr"`},
		{"no name", `{"id":"x","source":"aws.ssm","detail-type":"Parameter Store Change","detail":{"operation":"Update"}}`, "event x lacks detail.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}
