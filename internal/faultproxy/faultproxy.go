// Package faultproxy is a reverse proxy for tests and benchmarks that sits
// between the AWS SDK and moto server and makes moto behave like a busy
// AWS endpoint: latency per call, a per-operation rate limit for each
// caller and region answered with throttling, injected faults — at random,
// or deterministically for an operation's first calls — worded as the
// called service words them, calls a test holds (Hold), and the paging of
// DescribeRepositories that moto leaves out.
package faultproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
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

// Faults the proxy can inject. The first three are answered as the called
// service answers them (faultErrors); the comments give ECR's, SSM's and
// SQS's answers.
const (
	Throttle     Fault = "throttle"      // 400 ThrottlingException
	ServerError  Fault = "server-error"  // 500 ServerException
	AccessDenied Fault = "access-denied" // 400 AccessDeniedException
	Drop         Fault = "drop"          // connection closed without a response
	Slow         Fault = "slow"          // answer after Rule.SlowBy; through InstantTimeouts, time out at once
)

// protocol is how a service's API is called and words its errors.
type protocol int

const (
	awsJSON protocol = iota // X-Amz-Target header, JSON errors: ECR, SSM, SQS
	restXML                 // method and path, XML <Error>: S3
	query                   // form with Action=, XML <ErrorResponse>: STS
)

// apiError is one error answer.
type apiError struct {
	status        int
	code, message string
}

// faultErrors are the answers to the injected faults, by protocol, with
// the statuses and codes the services answer with, so that the SDK
// classifies them as it does AWS's: S3 throttles with a 503 SlowDown and
// denies with a 403, STS throttles with Throttling.
var faultErrors = map[protocol]map[Fault]apiError{
	awsJSON: {
		Throttle:     {http.StatusBadRequest, "ThrottlingException", "Rate exceeded"},
		ServerError:  {http.StatusInternalServerError, "ServerException", "injected server error"},
		AccessDenied: {http.StatusBadRequest, "AccessDeniedException", "injected access denied"},
	},
	restXML: {
		Throttle:     {http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."},
		ServerError:  {http.StatusInternalServerError, "InternalError", "injected server error"},
		AccessDenied: {http.StatusForbidden, "AccessDenied", "injected access denied"},
	},
	query: {
		Throttle:     {http.StatusBadRequest, "Throttling", "Rate exceeded"},
		ServerError:  {http.StatusInternalServerError, "InternalFailure", "injected server error"},
		AccessDenied: {http.StatusForbidden, "AccessDenied", "injected access denied"},
	},
}

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
	holds    map[string][]*Held
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
		holds:    map[string][]*Held{},
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

// operation names a call as its service's API does, and tells the
// protocol it is made in: a JSON-protocol call by its target header
// ("AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy"), an S3
// call (REST) by its method and path, a query-protocol call (STS) by the
// Action of its form. "" for a call it cannot name.
func operation(r *http.Request, body []byte) (string, protocol) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndexByte(t, '.')+1:], awsJSON
	}
	if _, service := scope(r); service == "s3" {
		return s3Operation(r), restXML
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Has("Action") {
			return form.Get("Action"), query
		}
	}
	return "", awsJSON
}

// s3Operation names the S3 calls the archive and a restore make. The
// proxy is an IP endpoint, so the SDK puts the bucket in the path
// (/bucket/key), not in the host name; it adds the call's name as x-id,
// which S3 ignores and so is not read here.
func s3Operation(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	q.Del("x-id")
	switch {
	case key != "" && len(q) == 0 && r.Method == http.MethodPut:
		return "PutObject"
	case key != "" && len(q) == 0 && r.Method == http.MethodGet:
		return "GetObject"
	case key == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	}
	return ""
}

// target is who calls where: the access key and region of the SigV4
// credential scope, "" for an unsigned call.
func target(r *http.Request) string {
	who, _ := scope(r)
	return who
}

// scope reads the SigV4 credential scope
// ("Credential=AKID/20250101/us-east-1/ecr/aws4_request"): the access key
// and region as "AKID/us-east-1", and the service.
func scope(r *http.Request) (who, service string) {
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 4 {
		return "", ""
	}
	return parts[0] + "/" + parts[2], parts[3]
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
// inject, if any, the gate the call's answer waits at, if any, and the
// hold a test put on it, if any: a hold takes the next call moto serves,
// never one answered with a fault.
func (p *Proxy) decide(op, target string) (Rule, Fault, *gate, *Held) {
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
	fault := p.fault(st, rule, key, target)
	var held *Held
	if hs := p.holds[op]; fault == "" && len(hs) > 0 {
		held, p.holds[op] = hs[0], hs[1:]
	}
	return rule, fault, wait, held
}

// fault is the fault to inject into a call, counted in st, or "".
func (p *Proxy) fault(st *Stats, rule Rule, key, target string) Fault {
	if st.Calls <= rule.FailFirst {
		st.Faults++
		return rule.Fault
	}
	if rule.FaultRate > 0 && p.rng.Float64() < rule.FaultRate {
		st.Faults++
		if len(rule.Faults) > 0 {
			return rule.Faults[p.rng.IntN(len(rule.Faults))]
		}
		return rule.Fault
	}
	if l := p.limiter(key, target, rule); l != nil && !l.Allow() {
		st.Throttled++
		return Throttle
	}
	return ""
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
	op, proto := operation(r, body)
	rule, fault, g, held := p.decide(op, target(r))
	if rule.Latency > 0 {
		time.Sleep(rule.Latency)
	}
	// A gathered call's answer, or one held once answered, is recorded,
	// then held.
	out := w
	var rec *httptest.ResponseRecorder
	if g != nil || held != nil && held.at == Answered {
		rec = httptest.NewRecorder()
		out = rec
	}
	switch fault {
	case Throttle, ServerError, AccessDenied:
		writeError(out, proto, faultErrors[proto][fault])
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
		p.forward(out, r, op, body, rule)
	default:
		if held != nil && held.at == Arrived && !held.wait(r.Context()) {
			p.ready(g)
			return
		}
		p.forward(out, r, op, body, rule)
	}
	if rec == nil {
		return
	}
	if g != nil {
		p.ready(g)
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
	}
	if held != nil && held.at == Answered && !held.wait(r.Context()) {
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

// writeError answers with e as a service of proto words it. The
// request id is left out, as moto's JSON errors leave it out.
func writeError(w http.ResponseWriter, proto protocol, e apiError) {
	var doc any
	switch proto {
	case awsJSON:
		awsError(w, e.status, e.code, e.message)
		return
	case restXML:
		doc = s3Error{Code: e.code, Message: e.message}
	case query:
		q := queryError{Type: "Sender", Code: e.code, Message: e.message}
		if e.status >= http.StatusInternalServerError {
			q.Type = "Receiver"
		}
		doc = q
	}
	b, err := xml.Marshal(doc)
	if err != nil {
		awsError(w, http.StatusInternalServerError, "ServerException", "faultproxy: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
}

// s3Error is S3's error document.
type s3Error struct {
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
}

// queryError is a query-protocol service's error document; Type is
// Sender for the caller's fault, Receiver for the service's.
type queryError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
}

// awsError answers as a JSON-protocol service.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

// forward passes the call to the target, paging it when the rule says so.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, op string, body []byte, rule Rule) {
	if rule.PageSize > 0 && op == "DescribeRepositories" {
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
