package faultproxy

import (
	"context"
	"sync"
)

// Stage is where a held call waits.
type Stage int

const (
	// Arrived holds the call before it is forwarded: moto has not seen
	// it, so what others write meanwhile lands before it.
	Arrived Stage = iota
	// Answered forwards the call and holds moto's answer: what others
	// write meanwhile lands after moto served it, before its caller
	// knows the answer.
	Answered
)

// Held is one call a test holds, to put its own calls at an exact point
// of another client's sequence without a clock.
type Held struct {
	at       Stage
	waiting  chan struct{}
	released chan struct{}
	release  sync.Once
}

// Hold holds the next call of op that the rules pass to moto (a call
// answered with a fault is not held) at stage at, until Release. Holds
// of one operation take its calls in the order they were made.
func (p *Proxy) Hold(op string, at Stage) *Held {
	h := &Held{at: at, waiting: make(chan struct{}), released: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holds[op] = append(p.holds[op], h)
	return h
}

// Waiting is closed once the call waits at its stage.
func (h *Held) Waiting() <-chan struct{} { return h.waiting }

// Release lets the call go on; calling it again does nothing.
func (h *Held) Release() { h.release.Do(func() { close(h.released) }) }

// wait signals the call is held and holds it until Release; false when
// its caller gave up meanwhile.
func (h *Held) wait(ctx context.Context) bool {
	close(h.waiting)
	select {
	case <-h.released:
		return true
	case <-ctx.Done():
		return false
	}
}
