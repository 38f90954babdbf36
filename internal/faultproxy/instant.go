package faultproxy

import (
	"context"
	"net/http"
)

// InstantTimeouts wraps next, the transport of an HTTP client that calls
// the proxy: a call the proxy would hold as a Slow fault fails at once
// with the error net/http's client returns when an attempt outlives its
// Timeout, instead of after that timeout. Tests about what follows a timed
// out attempt (the SDK's retries, the error texts, the outcome) then wait
// for no clock; TestInstantTimeoutsMatchAttemptTimeout proves the SDK
// retries it and ends with the same error as after a real timeout (whose
// last words net/http varies). Other calls pass through untouched.
func InstantTimeouts(next http.RoundTripper) http.RoundTripper {
	return instantTimeouts{next}
}

type instantTimeouts struct{ next http.RoundTripper }

func (t instantTimeouts) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the request it was given.
	r = r.Clone(r.Context())
	r.Header.Set(instantHeader, "1")
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Header.Get(instantHeader) == "" {
		return resp, err
	}
	_ = resp.Body.Close()
	// What the transport under http.Client returns when the client's
	// Timeout ends an attempt: the client wraps it in a *url.Error (a
	// timeout, retried by the SDK like a dropped connection).
	return nil, context.DeadlineExceeded
}
