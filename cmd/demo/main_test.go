package main

import (
	"context"
	"testing"
)

// TestDemo runs `make demo` end to end, so the README's first command is
// proven by the test command: run fails when any step ends otherwise than
// it should or the repository does not end on the changed baseline.
func TestDemo(t *testing.T) {
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
