// Package faultproxy is a reverse proxy for tests and benchmarks that sits
// between the AWS SDK and moto server and makes moto behave like a busy
// AWS endpoint: latency per call, a per-operation rate limit for each
// caller and region answered with ThrottlingException, injected faults — at random, or deterministically
// for an operation's first calls — and the paging of DescribeRepositories
// that moto leaves out.
package faultproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fault is an injected failure.
type Fault string

// Faults the proxy can inject.
const (
	Throttle     Fault = "throttle"      // 400 ThrottlingException
	ServerError  Fault = "server-error"  // 500 ServerException
	AccessDenied Fault = "access-denied" // 400 AccessDeniedException
	Drop         Fault = "drop"          // connection closed without a response
	Slow         Fault = "slow"          // answer after Rule.SlowBy; through InstantTimeouts, time out at once
)

// instantHeader marks a request sent through InstantTimeouts: the proxy
// answers a Slow fault on it at once, with this header set, instead of
// holding it.
const instantHeader = "X-Faultproxy-Instant-Timeout"

// Rule shapes one operation's traffic; the zero Rule passes it through.
type Rule struct {
	// Latency is added to every call.
	Latency time.Duration
	// RateLimit, when positive, is the calls per second the operation
	// accepts from each target (the credentials and region a call is
	// signed for, as AWS's quotas are per account and region); calls above
	// it get ThrottlingException. Burst is how many may come at once (at
	// least 1).
	RateLimit float64
	Burst     int
	// FaultRate is the probability of injecting Fault into a call.
	FaultRate float64
	Fault     Fault
	// Faults, when set, is the mix FaultRate draws from: each injected
	// call gets one of them at random instead of Fault.
	Faults []Fault
	// FailFirst injects Fault into the operation's first FailFirst calls
	// and into none after them: a transient fault whose count a test can
	// assert exactly.
	FailFirst int
	// SlowBy is the delay of a Slow fault.
	SlowBy time.Duration
	// Gather holds the answers to the operation's first Gather calls
	// until the target has answered all of them: each of those calls is
	// served before any of their callers goes on, so concurrent callers
	// are certain to overlap there (two reads both come before either
	// caller's next write).
	Gather int
	// PageSize, on DescribeRepositories, pages the answer the way ECR
	// does, which moto does not (it ignores maxResults and nextToken):
	// at most PageSize repositories per call, or the request's maxResults
	// if smaller, and an opaque nextToken for the rest.
	PageSize int
}

// Stats counts what the proxy saw for one operation.
type Stats struct {
	Calls     int // HTTP requests, retries included
	Throttled int // answered with ThrottlingException by the rate limit
	Faults    int // injected faults
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the endpoint to give the SDK.
	URL string

	srv      *http.Server
	proxy    *httputil.ReverseProxy
	mu       sync.Mutex
	rules    map[string]Rule
	limiters map[limited]*rate.Limiter
	stats    map[string]*Stats
	gates    map[string]*gate
	rng      *rand.Rand
}

// limited names a rate limiter: the rule's key ("*" or an operation) and
// the target of the call.
type limited struct{ key, target string }

// gate releases the answers it holds once want of them are ready.
type gate struct {
	ready, want int
	open        chan struct{}
}

// Start proxies to target (moto's URL) on a free 127.0.0.1 port. rules are
// keyed by operation name, e.g. "SetRepositoryPolicy"; "*" applies to
// operations without a rule of their own.
func Start(target string, rules map[string]Rule, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy target: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy listen: %w", err)
	}
	p := &Proxy{
		URL:      "http://" + l.Addr().String(),
		proxy:    httputil.NewSingleHostReverseProxy(u),
		rules:    map[string]Rule{},
		limiters: map[limited]*rate.Limiter{},
		stats:    map[string]*Stats{},
		gates:    map[string]*gate{},
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	p.proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	p.SetRules(rules)
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// SetRules replaces the rules and resets the rate limiters.
func (p *Proxy) SetRules(rules map[string]Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
	p.limiters = map[limited]*rate.Limiter{}
	p.gates = map[string]*gate{}
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Stats returns the counts for op.
func (p *Proxy) Stats(op string) Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stats[op]; s != nil {
		return *s
	}
	return Stats{}
}

// ResetStats zeroes every count.
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = map[string]*Stats{}
}

// operation reads the JSON-protocol target header,
// "AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy".
func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// target is who calls where: the access key and region of the SigV4
// credential scope ("Credential=AKID/20250101/us-east-1/ecr/aws4_request"),
// "" for an unsigned call.
func target(r *http.Request) string {
	_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	scope, _, _ = strings.Cut(scope, ",")
	parts := strings.Split(scope, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[0] + "/" + parts[2]
}

// limiter is the rate limiter of rule key for target, made on first use.
func (p *Proxy) limiter(key, target string, rule Rule) *rate.Limiter {
	if rule.RateLimit <= 0 {
		return nil
	}
	k := limited{key, target}
	l := p.limiters[k]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(rule.RateLimit), max(rule.Burst, 1))
		p.limiters[k] = l
	}
	return l
}

// decide picks the rule, updates the counts and returns the fault to
// inject, if any, and the gate the call's answer waits at, if any.
func (p *Proxy) decide(op, target string) (Rule, Fault, *gate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rule, ok := p.rules[op]
	key := op
	if !ok {
		rule, key = p.rules["*"], "*"
	}
	st := p.stats[op]
	if st == nil {
		st = &Stats{}
		p.stats[op] = st
	}
	st.Calls++
	var wait *gate
	if st.Calls <= rule.Gather {
		if wait = p.gates[op]; wait == nil {
			wait = &gate{want: rule.Gather, open: make(chan struct{})}
			p.gates[op] = wait
		}
	}
	if st.Calls <= rule.FailFirst {
		st.Faults++
		return rule, rule.Fault, wait
	}
	if rule.FaultRate > 0 && p.rng.Float64() < rule.FaultRate {
		st.Faults++
		if len(rule.Faults) > 0 {
			return rule, rule.Faults[p.rng.IntN(len(rule.Faults))], wait
		}
		return rule, rule.Fault, wait
	}
	if l := p.limiter(key, target, rule); l != nil && !l.Allow() {
		st.Throttled++
		return rule, Throttle, wait
	}
	return rule, "", wait
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	// The server notices a client that gave up (closed its connection) and
	// ends r.Context() only once the request body has been read, so read
	// it before holding a call: a slow call whose client timed out is then
	// never forwarded.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	instant := r.Header.Get(instantHeader) != ""
	r.Header.Del(instantHeader)
	rule, fault, g := p.decide(operation(r), target(r))
	if rule.Latency > 0 {
		time.Sleep(rule.Latency)
	}
	// A gathered call's answer is recorded, then held at the gate.
	out := w
	var rec *httptest.ResponseRecorder
	if g != nil {
		rec = httptest.NewRecorder()
		out = rec
	}
	switch fault {
	case Throttle:
		awsError(out, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	case ServerError:
		awsError(out, http.StatusInternalServerError, "ServerException", "injected server error")
	case AccessDenied:
		awsError(out, http.StatusBadRequest, "AccessDeniedException", "injected access denied")
	case Drop:
		p.ready(g)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		awsError(w, http.StatusBadGateway, "ServerException", "connection could not be dropped")
		return
	case Slow:
		if instant {
			p.ready(g)
			w.Header().Set(instantHeader, "held")
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		select {
		case <-time.After(rule.SlowBy):
		case <-r.Context().Done():
			p.ready(g)
			return
		}
		p.forward(out, r, body, rule)
	default:
		p.forward(out, r, body, rule)
	}
	if g == nil {
		return
	}
	p.ready(g)
	select {
	case <-g.open:
	case <-r.Context().Done():
		return
	}
	copyResponse(w, rec)
}

// ready counts one gathered answer as ready and opens the gate with the
// last.
func (p *Proxy) ready(g *gate) {
	if g == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if g.ready++; g.ready == g.want {
		close(g.open)
	}
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

// forward passes the call to the target, paging it when the rule says so.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, rule Rule) {
	if rule.PageSize > 0 && operation(r) == "DescribeRepositories" {
		p.page(w, r, body, rule.PageSize)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// page answers a DescribeRepositories call with one page of moto's full
// answer. Repositories are ordered by name and a nextToken names the last
// repository of its page, so, as with a real registry, a page is where it
// was even when repositories before it were deleted since.
func (p *Proxy) page(w http.ResponseWriter, r *http.Request, body []byte, size int) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "faultproxy: request body: "+err.Error())
		return
	}
	if raw, ok := in["maxResults"]; ok {
		var maxResults int
		if err := json.Unmarshal(raw, &maxResults); err != nil || maxResults < 1 {
			awsError(w, http.StatusBadRequest, "InvalidParameterException", "faultproxy: bad maxResults "+string(raw))
			return
		}
		size = min(size, maxResults)
	}
	after, err := pageAfter(in["nextToken"])
	if err != nil {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "faultproxy: "+err.Error())
		return
	}
	delete(in, "maxResults")
	delete(in, "nextToken")
	all, err := json.Marshal(in)
	if err != nil {
		awsError(w, http.StatusInternalServerError, "ServerException", "faultproxy: "+err.Error())
		return
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(all))
	req.ContentLength = int64(len(all))
	req.Header.Set("Content-Length", strconv.Itoa(len(all)))
	rec := httptest.NewRecorder()
	p.proxy.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	var full struct {
		Repositories []json.RawMessage `json:"repositories"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &full); err != nil {
		awsError(w, http.StatusBadGateway, "ServerException", "faultproxy: moto's answer: "+err.Error())
		return
	}
	type named struct {
		Name string `json:"repositoryName"`
		raw  json.RawMessage
	}
	repos := make([]named, len(full.Repositories))
	for i, raw := range full.Repositories {
		if err := json.Unmarshal(raw, &repos[i]); err != nil {
			awsError(w, http.StatusBadGateway, "ServerException", "faultproxy: moto's answer: "+err.Error())
			return
		}
		repos[i].raw = raw
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
	start := sort.Search(len(repos), func(i int) bool { return repos[i].Name > after })
	end := min(start+size, len(repos))
	var out struct {
		Repositories []json.RawMessage `json:"repositories"`
		NextToken    string            `json:"nextToken,omitempty"`
	}
	out.Repositories = []json.RawMessage{}
	for _, repo := range repos[start:end] {
		out.Repositories = append(out.Repositories, repo.raw)
	}
	if end < len(repos) {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(repos[end-1].Name))
	}
	b, err := json.Marshal(out)
	if err != nil {
		awsError(w, http.StatusInternalServerError, "ServerException", "faultproxy: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// pageAfter reads a nextToken the proxy made: the name of the repository
// its page starts after; "" without a token.
func pageAfter(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", nil
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil {
		return "", fmt.Errorf("bad nextToken %s: %w", raw, err)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("bad nextToken %q", token)
	}
	return string(b), nil
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
