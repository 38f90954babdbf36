package ssmevent

import (
	"errors"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
)

// FuzzParse feeds the parser every events/ sample and what the fuzzer makes
// of them. Parse must never panic; an error must wrap ErrMalformed and come
// with no change; a change it accepts names a parameter and an operation,
// and no input is both a parameter change and an ECR event, so the
// handler can never dispatch one payload two ways.
func FuzzParse(f *testing.F) {
	for _, b := range samples.All(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if ch != (ParameterChange{}) {
				t.Fatalf("error %v came with a change %+v", err, ch)
			}
			return
		}
		if ch.Name == "" || ch.Operation == "" {
			t.Fatalf("accepted a change without name or operation: %+v", ch)
		}
		if ev, err := ecrevent.Parse(raw); err == nil {
			t.Fatalf("input parses both as parameter change %+v and as ECR event %+v", ch, ev)
		}
	})
}
