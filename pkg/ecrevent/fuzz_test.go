package ecrevent

import (
	"errors"
	"reflect"
	"regexp"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/internal/samples"
)

// The rules ECR itself applies, written out again here rather than reused
// from the parser, so a mistake in one is caught by the other: repository
// names from the CreateRepository API reference (2 to 256 characters,
// lower-case path components), registry ids are account ids.
var (
	ecrRepositoryName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	accountID         = regexp.MustCompile(`^[0-9]{12}$`)
)

// FuzzParse feeds the parser every events/ sample and what the fuzzer makes
// of them. Parse must never panic; an error must wrap ErrMalformed or
// ErrUnsupported and come with no event; an event it accepts for
// enforcement names a repository ECR could hold in a 12-digit registry.
func FuzzParse(f *testing.F) {
	for _, b := range samples.All(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Fatalf("error %v came with an event %+v", err, ev)
			}
			return
		}
		if !eventNames[ev.EventName] {
			t.Fatalf("accepted event name %q", ev.EventName)
		}
		// A failed call is skipped, not enforced: the repository it names
		// is only logged, so it is not held to ECR's rules.
		if ev.FailedCall != "" {
			return
		}
		r := ev.Repository
		if len(r.Name) < 2 || len(r.Name) > 256 || !ecrRepositoryName.MatchString(r.Name) {
			t.Fatalf("accepted repository name %q", r.Name)
		}
		if !accountID.MatchString(r.RegistryID) {
			t.Fatalf("accepted registry id %q", r.RegistryID)
		}
		if r.Region == "" || r.ARN == "" {
			t.Fatalf("accepted a repository without region or ARN: %+v", r)
		}
	})
}
