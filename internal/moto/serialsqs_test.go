package moto

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSerialSQS: calls made at once reach the target one at a time, each
// with its own answer. The target yields while it holds a call, so that
// calls a proxy let overlap would meet there.
func TestSerialSQS(t *testing.T) {
	var inTarget, most atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inTarget.Add(1)
		defer inTarget.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		for range 1000 {
			runtime.Gosched()
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	defer target.Close()
	s, err := StartSerialSQS(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 8 {
				want := strings.Repeat("x", i*8+j)
				req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(want))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261124/us-east-1/sqs/aws4_request")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != want {
					t.Errorf("answer %q to %q", got, want)
				}
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m != 1 {
		t.Errorf("%d calls in the target at once, want 1", m)
	}
}
