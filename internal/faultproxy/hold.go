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
	at        Stage
	waiting   chan struct{}
	released  chan struct{}
	abandoned chan struct{}
	release   sync.Once
}

// Hold holds the next call of op that the rules pass to moto (a call
// answered with a fault is not held) at stage at, until Release. Holds
// of one operation take its calls in the order they were made.
//
// A hold matches by operation name only: it takes the next call of op
// whoever makes it and whatever repository (or other target) it names,
// so a test that holds a call sends through the proxy only the calls of
// op it means to hold.
//
// A hold holds one call. If its caller gives up while it is held (see
// Abandoned), the hold is used up: it does not re-arm, and the caller's
// retry, a new call, passes unheld. Re-arming could not keep the order a
// test set up at Answered: moto served the abandoned call, and a held
// retry would be served again, after what the test wrote meanwhile. One
// rule for both stages keeps a hold one call; a test that depends on its
// hold gives the held client no attempt timeout and can watch Abandoned.
func (p *Proxy) Hold(op string, at Stage) *Held {
	h := &Held{at: at, waiting: make(chan struct{}), released: make(chan struct{}), abandoned: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holds[op] = append(p.holds[op], h)
	return h
}

// Waiting is closed once the call waits at its stage.
func (h *Held) Waiting() <-chan struct{} { return h.waiting }

// Abandoned is closed once the held call's caller gave up on it before
// Release (its request's context ended: an SDK attempt timeout, a
// cancelled context): the call was dropped, unanswered, and was not
// forwarded if held at Arrived. It closes when the proxy notices the
// caller left, which may be after the caller's retry went through.
func (h *Held) Abandoned() <-chan struct{} { return h.abandoned }

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
		close(h.abandoned)
		return false
	}
}
