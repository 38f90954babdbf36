package faultproxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
)

// backend stands in for moto: it answers every call with 200 and counts.
func backend(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func start(t *testing.T, target string, rules map[string]Rule) *Proxy {
	t.Helper()
	p, err := Start(target, rules, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// answer is what one call got: a status and error type, or a transport error.
type answer struct {
	Status    int
	ErrorType string
	Err       string
}

func call(client *http.Client, url, op string) answer {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	resp, err := client.Do(req)
	if err != nil {
		var ne interface{ Timeout() bool }
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return answer{Err: "timeout"}
		case errors.Is(err, io.EOF):
			return answer{Err: "EOF"}
		}
		return answer{Err: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return answer{Status: resp.StatusCode, ErrorType: resp.Header.Get("X-Amzn-Errortype")}
}

func TestFailFirst(t *testing.T) {
	ok := answer{Status: 200}
	plain := &http.Client{Transport: &http.Transport{}}
	tests := []struct {
		name string
		rule Rule
		// client is the HTTP client the calls are made with.
		client      *http.Client
		want        []answer
		wantBackend int32
	}{
		{"throttle", Rule{FailFirst: 2, Fault: Throttle}, plain,
			[]answer{{400, "ThrottlingException", ""}, {400, "ThrottlingException", ""}, ok, ok}, 2},
		{"server error", Rule{FailFirst: 1, Fault: ServerError}, plain,
			[]answer{{500, "ServerException", ""}, ok, ok}, 2},
		{"access denied", Rule{FailFirst: 1, Fault: AccessDenied}, plain,
			[]answer{{400, "AccessDeniedException", ""}, ok}, 1},
		{"drop", Rule{FailFirst: 2, Fault: Drop}, plain,
			[]answer{{Err: "EOF"}, {Err: "EOF"}, ok}, 1},
		// The client gives up long before the proxy would answer; the
		// call never reaches the backend. Its subject is a real timeout,
		// so it waits for one, 100 ms: a minute apart from SlowBy.
		{"slow", Rule{FailFirst: 1, Fault: Slow, SlowBy: time.Minute}, &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{}},
			[]answer{{Err: "timeout"}, ok}, 1},
		// The same call through InstantTimeouts times out at once.
		{"slow, instant timeouts", Rule{FailFirst: 1, Fault: Slow, SlowBy: time.Minute}, &http.Client{Transport: InstantTimeouts(&http.Transport{})},
			[]answer{{Err: "timeout"}, ok}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, served := backend(t)
			p := start(t, srv.URL, map[string]Rule{"SetRepositoryPolicy": tt.rule})
			var got []answer
			for range tt.want {
				got = append(got, call(tt.client, p.URL, "SetRepositoryPolicy"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			wantStats := Stats{Calls: len(tt.want), Faults: tt.rule.FailFirst}
			if diff := cmp.Diff(wantStats, p.Stats("SetRepositoryPolicy")); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if n := served.Load(); n != tt.wantBackend {
				t.Errorf("backend served %d calls, want %d", n, tt.wantBackend)
			}
			// Other operations are untouched. Asked without the slow
			// rows' 100 ms timeout, which a loaded machine can exceed.
			if a := call(plain, p.URL, "GetRepositoryPolicy"); a != ok {
				t.Errorf("another operation got %+v", a)
			}
		})
	}
}

func TestFaultMix(t *testing.T) {
	srv, served := backend(t)
	mix := []Fault{Throttle, ServerError, AccessDenied}
	p := start(t, srv.URL, map[string]Rule{"*": {FaultRate: 1, Faults: mix}})
	client := &http.Client{Transport: &http.Transport{}}
	seen := map[string]int{}
	for range 60 {
		seen[call(client, p.URL, "GetRepositoryPolicy").ErrorType]++
	}
	if len(seen) != len(mix) || seen["ThrottlingException"] == 0 || seen["ServerException"] == 0 || seen["AccessDeniedException"] == 0 {
		t.Errorf("60 calls at fault rate 1 got %v, want each fault of the mix and nothing else", seen)
	}
	if n := served.Load(); n != 0 {
		t.Errorf("backend served %d calls, want none", n)
	}
	if diff := cmp.Diff(Stats{Calls: 60, Faults: 60}, p.Stats("GetRepositoryPolicy")); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestGather(t *testing.T) {
	// The backend tells when it has answered the first call, so the test
	// waits for that, not for a clock.
	var served atomic.Int32
	firstServed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			defer close(firstServed)
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	p := start(t, srv.URL, map[string]Rule{"GetRepositoryPolicy": {Gather: 2}})
	client := &http.Client{Transport: &http.Transport{}}
	first := make(chan answer, 1)
	go func() { first <- call(client, p.URL, "GetRepositoryPolicy") }()
	<-firstServed
	// The backend has served the first call; its caller must not have the
	// answer until the second call has been served too.
	select {
	case a := <-first:
		t.Fatalf("the first call was answered alone: %+v", a)
	default:
	}
	second := call(client, p.URL, "GetRepositoryPolicy")
	if got := <-first; got != (answer{Status: 200}) || second != (answer{Status: 200}) {
		t.Errorf("answers %+v, %+v; want both 200", got, second)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("backend served %d calls, want 2", n)
	}
	// Past the first two, calls are not held.
	if a := call(client, p.URL, "GetRepositoryPolicy"); a != (answer{Status: 200}) {
		t.Errorf("third call: %+v", a)
	}
}

// lister stands in for moto's DescribeRepositories: it answers every
// repository it holds, in the order it holds them, whatever maxResults and
// nextToken say, and records the bodies it was sent.
type lister struct {
	mu     sync.Mutex
	names  []string
	bodies []map[string]any
}

func (l *lister) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	_ = json.NewDecoder(r.Body).Decode(&in)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bodies = append(l.bodies, in)
	var out struct {
		Repositories []map[string]string `json:"repositories"`
	}
	for _, n := range l.names {
		out.Repositories = append(out.Repositories, map[string]string{"repositoryName": n, "registryId": "123456789012"})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (l *lister) remove(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = slices.DeleteFunc(l.names, func(n string) bool { return slices.Contains(names, n) })
}

// ecrVia is a real SDK client whose calls go through the proxy.
func ecrVia(t *testing.T, p *Proxy) *ecr.Client {
	t.Helper()
	cfg, err := moto.Config(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	return ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.RetryMaxAttempts = 1 })
}

func describe(t *testing.T, client *ecr.Client, maxResults int32, token *string) ([]string, *string) {
	t.Helper()
	out, err := client.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(maxResults), NextToken: token})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.Repositories {
		got = append(got, aws.ToString(r.RepositoryName))
	}
	return got, out.NextToken
}

func TestPageSize(t *testing.T) {
	held := []string{"d", "b", "g", "a", "f", "c", "e"}
	tests := []struct {
		name       string
		rules      map[string]Rule
		maxResults int32
		want       [][]string
	}{
		{name: "pages of maxResults", rules: map[string]Rule{"DescribeRepositories": {PageSize: 100}}, maxResults: 3,
			want: [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}},
		{name: "pages of PageSize when smaller", rules: map[string]Rule{"DescribeRepositories": {PageSize: 2}}, maxResults: 1000,
			want: [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}, {"g"}}},
		{name: "PageSize under * applies too", rules: map[string]Rule{"*": {PageSize: 4}}, maxResults: 1000,
			want: [][]string{{"a", "b", "c", "d"}, {"e", "f", "g"}}},
		{name: "without PageSize moto's answer passes as it is", rules: nil, maxResults: 3,
			want: [][]string{held}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := &lister{names: held}
			srv := httptest.NewServer(backend)
			t.Cleanup(srv.Close)
			client := ecrVia(t, start(t, srv.URL, tt.rules))
			var got [][]string
			var token *string
			for range 10 {
				page, next := describe(t, client, tt.maxResults, token)
				got = append(got, page)
				if token = next; token == nil {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			if tt.rules == nil {
				return
			}
			// moto is asked for everything every time.
			for _, b := range backend.bodies {
				if _, ok := b["maxResults"]; ok {
					t.Errorf("forwarded %v, want no maxResults", b)
				}
				if _, ok := b["nextToken"]; ok {
					t.Errorf("forwarded %v, want no nextToken", b)
				}
			}
		})
	}
}

// TestPageSizeAfterDeletes deletes repositories between two pages: the
// next page still starts right after the last repository handed out, even
// when that one and some before it are gone.
func TestPageSizeAfterDeletes(t *testing.T) {
	backend := &lister{names: []string{"a", "b", "c", "d", "e", "f"}}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	client := ecrVia(t, start(t, srv.URL, map[string]Rule{"DescribeRepositories": {PageSize: 2}}))
	first, token := describe(t, client, 1000, nil)
	if diff := cmp.Diff([]string{"a", "b"}, first); diff != "" || token == nil {
		t.Fatalf("first page (-want +got):\n%s\ntoken %v", diff, token)
	}
	backend.remove("a", "b")
	second, token := describe(t, client, 1000, token)
	if diff := cmp.Diff([]string{"c", "d"}, second); diff != "" || token == nil {
		t.Errorf("second page (-want +got):\n%s\ntoken %v", diff, token)
	}
	backend.remove("d")
	third, token := describe(t, client, 1000, token)
	if diff := cmp.Diff([]string{"e", "f"}, third); diff != "" || token != nil {
		t.Errorf("third page (-want +got):\n%s\ntoken %v, want none", diff, token)
	}
}

func TestPageSizeBadToken(t *testing.T) {
	srv := httptest.NewServer(&lister{names: []string{"a"}})
	t.Cleanup(srv.Close)
	client := ecrVia(t, start(t, srv.URL, map[string]Rule{"DescribeRepositories": {PageSize: 2}}))
	_, err := client.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{NextToken: aws.String("not base64!")})
	var invalid *types.InvalidParameterException
	if !errors.As(err, &invalid) {
		t.Fatalf("error = %v, want InvalidParameterException", err)
	}
}

// TestInstantTimeoutsMatchAttemptTimeout sends a policy write that the
// proxy always holds through the real SDK twice: once with a real attempt
// timeout, the one place the fault matrix's stand-in is checked against
// the real thing, and once through InstantTimeouts. Both must retry every
// attempt and end with the same error: the same words up to the
// transport's, and a timeout. The real one waits 100 ms per attempt; the
// proxy would hold each call a minute, so no machine is slow enough to
// make the two disagree.
func TestInstantTimeoutsMatchAttemptTimeout(t *testing.T) {
	srv, served := backend(t)
	p := start(t, srv.URL, map[string]Rule{"SetRepositoryPolicy": {FaultRate: 1, Fault: Slow, SlowBy: time.Minute}})
	cfg, err := moto.Config(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	const sent = `exceeded maximum number of attempts, 8, https response error StatusCode: 0, RequestID: , request send failed, Post "PROXY/": `
	tests := []struct {
		name string
		http aws.HTTPClient
		// wantTransport is the transport's words, "" for any timeout.
		wantTransport string
	}{
		// net/http words a real timeout three ways, depending on which of
		// its goroutines notices it first: "context deadline exceeded",
		// "net/http: request canceled (Client.Timeout exceeded while
		// awaiting headers)" or the first followed by that parenthesis.
		{"attempt timeout", awsconfig.HTTPClient(100 * time.Millisecond), ""},
		{"instant timeouts", &http.Client{Timeout: awsconfig.AttemptTimeout, Transport: InstantTimeouts(http.DefaultTransport.(*http.Transport).Clone())},
			"context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.ResetStats()
			client := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
				o.HTTPClient = tt.http
				o.Retryer = awsconfig.NewRetryer(5 * time.Millisecond)
			})
			_, err := client.SetRepositoryPolicy(context.Background(), &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team-a/web"), PolicyText: aws.String("{}")})
			if err == nil {
				t.Fatal("the write succeeded; want it timed out")
			}
			var timeout interface{ Timeout() bool }
			_, transport, found := strings.Cut(strings.ReplaceAll(err.Error(), p.URL, "PROXY"), sent)
			if !found || !errors.As(err, &timeout) || !timeout.Timeout() || (tt.wantTransport != "" && transport != tt.wantTransport) {
				t.Errorf("error %v; want a timeout, ending %s%s", err, sent, tt.wantTransport)
			}
			if diff := cmp.Diff(Stats{Calls: awsconfig.MaxAttempts, Faults: awsconfig.MaxAttempts}, p.Stats("SetRepositoryPolicy")); diff != "" {
				t.Errorf("every attempt timed out and was retried; stats (-want +got):\n%s", diff)
			}
		})
	}
	if n := served.Load(); n != 0 {
		t.Errorf("backend served %d calls, want none: every one was held", n)
	}
}

// TestRateLimitPerTarget: each access key and region has its own limit,
// as AWS's quotas are per account and region, and a call over it gets a
// ThrottlingException that the SDK's retry classifies as throttling. The
// limit refills once an hour, so no token comes back while the test runs.
func TestRateLimitPerTarget(t *testing.T) {
	srv, _ := backend(t)
	p := start(t, srv.URL, map[string]Rule{"SetRepositoryPolicy": {RateLimit: 1.0 / 3600, Burst: 1}})
	cfg, err := moto.Config(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := func(region, key string) *ecr.Client {
		return ecr.NewFromConfig(cfg, func(o *ecr.Options) {
			o.Region, o.RetryMaxAttempts = region, 1
			o.Credentials = credentials.NewStaticCredentialsProvider(key, "secret", "")
		})
	}
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	tests := []struct {
		name   string
		client *ecr.Client
		// throttled says whether the call is over its target's limit.
		throttled bool
	}{
		{"first call", client("us-east-1", "a"), false},
		{"second call, same target", client("us-east-1", "a"), true},
		{"another region", client("eu-west-1", "a"), false},
		{"other credentials", client("us-east-1", "b"), false},
	}
	for _, tt := range tests {
		_, err := tt.client.SetRepositoryPolicy(context.Background(), &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("r"), PolicyText: aws.String("{}")})
		if got := throttles.IsErrorThrottle(err) == aws.TrueTernary; got != tt.throttled {
			t.Errorf("%s: error %v, throttled %v, want %v", tt.name, err, got, tt.throttled)
		}
	}
	if got, want := p.Stats("SetRepositoryPolicy"), (Stats{Calls: 4, Throttled: 1}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}
