// Package ssmevent reads the EventBridge "Parameter Store Change" events
// that tell ecr-baseline its baseline parameter changed.
package ssmevent

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Source and DetailType of Parameter Store change events.
const (
	Source     = "aws.ssm"
	DetailType = "Parameter Store Change"
)

// ErrMalformed is returned for input that is not a parameter change event.
var ErrMalformed = errors.New("malformed parameter change event")

// ParameterChange is one change to a parameter.
type ParameterChange struct {
	ID string
	// Name is the parameter's name, e.g. /ecr-baseline/baseline-policy.
	Name string
	// Operation is Create, Update, Delete or LabelParameterVersion.
	Operation string
}

// Parse reads a Parameter Store change event.
func Parse(raw []byte) (ParameterChange, error) {
	var env struct {
		ID         string `json:"id"`
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			Name      string `json:"name"`
			Operation string `json:"operation"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return ParameterChange{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Source != Source || env.DetailType != DetailType {
		return ParameterChange{}, fmt.Errorf("%w: source %q, detail-type %q", ErrMalformed, env.Source, env.DetailType)
	}
	if env.Detail.Name == "" || env.Detail.Operation == "" {
		return ParameterChange{}, fmt.Errorf("%w: event %s lacks detail.name or detail.operation", ErrMalformed, env.ID)
	}
	return ParameterChange{ID: env.ID, Name: env.Detail.Name, Operation: env.Detail.Operation}, nil
}
