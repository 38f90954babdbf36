package moto

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// SerialSQS is an endpoint in front of a moto server that passes SQS calls
// one at a time and every other call as it comes. moto 5.2.5's SQS is not
// safe for concurrent calls: DeleteMessage rebuilds the queue's message
// list from a copy it took first, so a send, a delete or a move to the
// dead-letter queue that lands meanwhile is lost or undone (a stress test
// of concurrent send, receive and delete saw deleted messages come back).
// An SQS event source mapping calls SQS concurrently by design, and so do
// functions that send work while it runs, so Start puts one in front of
// every server: Server.URL is its endpoint. A long poll would hold every
// other SQS call, so clients must not wait in ReceiveMessage.
type SerialSQS struct {
	// URL is the endpoint; the queue URLs moto returns through it name it.
	URL string
	srv *http.Server
}

// StartSerialSQS serves on a free 127.0.0.1 port in front of target,
// moto's URL.
func StartSerialSQS(target string) (*SerialSQS, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("serial SQS target: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serial SQS listen: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	s := &SerialSQS{
		URL: "http://" + l.Addr().String(),
		// ServeHTTP returns once moto has answered and the answer is
		// copied, so no two calls are ever in moto at once.
		srv: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isSQS(r) {
				mu.Lock()
				defer mu.Unlock()
			}
			proxy.ServeHTTP(w, r)
		})},
	}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// isSQS tells an SQS call by its signature's credential scope
// (…/<region>/sqs/aws4_request), which every protocol SQS speaks carries.
func isSQS(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Authorization"), "/sqs/aws4_request")
}

// Close stops the endpoint.
func (s *SerialSQS) Close() error { return s.srv.Close() }
