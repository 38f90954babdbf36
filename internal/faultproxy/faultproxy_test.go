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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
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
	return callContext(context.Background(), client, url, op)
}

// callContext is call, given up when ctx ends.
func callContext(ctx context.Context, client *http.Client, url, op string) answer {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
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

// sdkCall is one call of the real SDK, made through the proxy.
type sdkCall struct {
	op   string
	call func(ctx context.Context, cfg aws.Config) error
}

// calls are the operations of each protocol the project makes: JSON (ECR,
// SQS), S3's REST (the archive and a restore) and the query protocol (STS).
var calls = map[string]sdkCall{
	"ECR": {"SetRepositoryPolicy", func(ctx context.Context, cfg aws.Config) error {
		_, err := ecr.NewFromConfig(cfg).SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team-a/web"), PolicyText: aws.String("{}")})
		return err
	}},
	"SQS": {"SendMessageBatch", func(ctx context.Context, cfg aws.Config) error {
		_, err := sqs.NewFromConfig(cfg).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String("http://queue"),
			Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}})
		return err
	}},
	"S3 put": {"PutObject", func(ctx context.Context, cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("archive"),
			Key: aws.String("123456789012/us-east-1/team-a/web@20261124T090000.000000000Z_merge_0123456789abcdef.json"), Body: strings.NewReader("{}")})
		return err
	}},
	"S3 get": {"GetObject", func(ctx context.Context, cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String("123456789012/us-east-1/a@b.json")})
		return err
	}},
	"S3 list": {"ListObjectsV2", func(ctx context.Context, cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), Prefix: aws.String("123456789012/us-east-1/")})
		return err
	}},
	"STS assume role": {"AssumeRole", func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/member"), RoleSessionName: aws.String("ecr-baseline")})
		return err
	}},
	"STS caller identity": {"GetCallerIdentity", func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
}

// sdkConfig is a configuration that reaches the proxy, one attempt per call.
func sdkConfig(t *testing.T, p *Proxy) aws.Config {
	t.Helper()
	cfg, err := moto.Config(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetryMaxAttempts = 1
	return cfg
}

// TestOperation: every call the project makes is named as its API names
// it, whatever its protocol, so a rule can single it out. The backend's
// answers are not what each SDK client expects; only the names matter.
func TestOperation(t *testing.T) {
	srv, _ := backend(t)
	p := start(t, srv.URL, nil)
	cfg := sdkConfig(t, p)
	for name, c := range calls {
		t.Run(name, func(t *testing.T) {
			p.ResetStats()
			_ = c.call(context.Background(), cfg)
			if got := p.Stats(c.op); got != (Stats{Calls: 1}) {
				t.Errorf("%s: stats %+v, want one call", c.op, got)
			}
			if got := p.Stats(""); got != (Stats{}) {
				t.Errorf("unnamed calls: %+v, want none", got)
			}
		})
	}
}

// TestFaultAnswers: each injected fault is answered as the called service
// answers it on AWS, so the SDK reads the same code and status and its
// retry classifies it the same way: throttling (retried, and slowing an
// adaptive client), retried, or final.
func TestFaultAnswers(t *testing.T) {
	const (
		throttling = "throttling"
		retried    = "retried"
		final      = "final"
	)
	tests := []struct {
		call       string
		fault      Fault
		wantCode   string
		wantStatus int
		wantKind   string
	}{
		{"ECR", Throttle, "ThrottlingException", 400, throttling},
		{"ECR", ServerError, "ServerException", 500, retried},
		{"ECR", AccessDenied, "AccessDeniedException", 400, final},
		{"S3 put", Throttle, "SlowDown", 503, throttling},
		{"S3 put", ServerError, "InternalError", 500, retried},
		{"S3 put", AccessDenied, "AccessDenied", 403, final},
		{"S3 list", Throttle, "SlowDown", 503, throttling},
		{"STS assume role", Throttle, "Throttling", 400, throttling},
		{"STS assume role", ServerError, "InternalFailure", 500, retried},
		{"STS assume role", AccessDenied, "AccessDenied", 403, final},
	}
	srv, served := backend(t)
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	retryables := retry.IsErrorRetryables(retry.DefaultRetryables)
	for _, tt := range tests {
		t.Run(tt.call+"/"+string(tt.fault), func(t *testing.T) {
			c := calls[tt.call]
			p := start(t, srv.URL, map[string]Rule{c.op: {FaultRate: 1, Fault: tt.fault}})
			err := c.call(context.Background(), sdkConfig(t, p))
			var api smithy.APIError
			var resp *awshttp.ResponseError
			if !errors.As(err, &api) || !errors.As(err, &resp) {
				t.Fatalf("error %v; want an API error with an HTTP response", err)
			}
			kind := final
			switch {
			case throttles.IsErrorThrottle(err) == aws.TrueTernary:
				kind = throttling
			case retryables.IsErrorRetryable(err) == aws.TrueTernary:
				kind = retried
			}
			if api.ErrorCode() != tt.wantCode || resp.HTTPStatusCode() != tt.wantStatus || kind != tt.wantKind {
				t.Errorf("got %s, %d, %s; want %s, %d, %s (error %v)", api.ErrorCode(), resp.HTTPStatusCode(), kind,
					tt.wantCode, tt.wantStatus, tt.wantKind, err)
			}
		})
	}
	if n := served.Load(); n != 0 {
		t.Errorf("backend served %d calls, want none", n)
	}
}

// async makes a call and hands over its answer once it has one.
func async(client *http.Client, url, op string) <-chan answer {
	return asyncContext(context.Background(), client, url, op)
}

// asyncContext is async, the call given up when ctx ends.
func asyncContext(ctx context.Context, client *http.Client, url, op string) <-chan answer {
	ch := make(chan answer, 1)
	go func() { ch <- callContext(ctx, client, url, op) }()
	return ch
}

// waitHeld returns once h holds the call whose answer comes on answered,
// and fails the test at once if the call is answered instead: a call
// that was not held never leaves the test waiting.
func waitHeld(t *testing.T, h *Held, answered <-chan answer) {
	t.Helper()
	select {
	case <-h.Waiting():
	case a := <-answered:
		t.Fatalf("the call was answered without being held: %+v", a)
	}
}

// TestHold holds one policy read at each stage: while it is held, moto
// has served it or not, its caller has no answer, and other calls, of the
// same operation too, pass; once released, it is answered. A call
// answered with a fault is not held: the hold takes the next one.
func TestHold(t *testing.T) {
	ok := answer{Status: 200}
	tests := []struct {
		name  string
		rules map[string]Rule
		at    Stage
		// faulted are the answers of the calls before the held one.
		faulted []answer
		// servedWhileHeld is how many calls the backend has served once
		// the held call waits.
		servedWhileHeld int32
	}{
		{name: "arrived: held before moto sees it", at: Arrived},
		{name: "answered: held once moto answered", at: Answered, servedWhileHeld: 1},
		{name: "a faulted call is not held", at: Answered, servedWhileHeld: 1,
			rules:   map[string]Rule{"GetRepositoryPolicy": {FailFirst: 1, Fault: Throttle}},
			faulted: []answer{{400, "ThrottlingException", ""}}},
	}
	client := &http.Client{Transport: &http.Transport{}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, served := backend(t)
			p := start(t, srv.URL, tt.rules)
			h := p.Hold("GetRepositoryPolicy", tt.at)
			for _, want := range tt.faulted {
				select {
				case got := <-async(client, p.URL, "GetRepositoryPolicy"):
					if got != want {
						t.Errorf("faulted call: %+v, want %+v", got, want)
					}
				case <-h.Waiting():
					t.Fatal("the faulted call was held")
				}
			}
			held := async(client, p.URL, "GetRepositoryPolicy")
			waitHeld(t, h, held)
			if n := served.Load(); n != tt.servedWhileHeld {
				t.Errorf("backend served %d calls once the call was held, want %d", n, tt.servedWhileHeld)
			}
			for _, op := range []string{"SetRepositoryPolicy", "GetRepositoryPolicy"} {
				if a := call(client, p.URL, op); a != ok {
					t.Errorf("%s while a call is held: %+v", op, a)
				}
			}
			select {
			case a := <-held:
				t.Fatalf("the held call was answered before its release: %+v", a)
			default:
			}
			h.Release()
			h.Release()
			if a := <-held; a != ok {
				t.Errorf("released call: %+v", a)
			}
			if n := served.Load(); n != 3 {
				t.Errorf("backend served %d calls, want 3", n)
			}
		})
	}
}

// TestHoldsTakeCallsInTurn: two holds of one operation hold its next two
// calls, each released on its own.
func TestHoldsTakeCallsInTurn(t *testing.T) {
	srv, served := backend(t)
	p := start(t, srv.URL, nil)
	client := &http.Client{Transport: &http.Transport{}}
	first, second := p.Hold("SetRepositoryPolicy", Arrived), p.Hold("SetRepositoryPolicy", Arrived)
	a := async(client, p.URL, "SetRepositoryPolicy")
	waitHeld(t, first, a)
	b := async(client, p.URL, "SetRepositoryPolicy")
	waitHeld(t, second, b)
	second.Release()
	if got := <-b; got != (answer{Status: 200}) {
		t.Errorf("second call: %+v", got)
	}
	select {
	case got := <-a:
		t.Fatalf("the first call was answered before its release: %+v", got)
	default:
	}
	if n := served.Load(); n != 1 {
		t.Errorf("backend served %d calls, want the second only", n)
	}
	first.Release()
	if got := <-a; got != (answer{Status: 200}) {
		t.Errorf("first call: %+v", got)
	}
}

// TestHoldAbandoned: a held call whose caller gives up is dropped, and
// its hold is used up: Abandoned closes and the next call of the
// operation, as an SDK retry would be, passes unheld. Held at Arrived,
// the abandoned call never reached the backend.
func TestHoldAbandoned(t *testing.T) {
	ok := answer{Status: 200}
	tests := []struct {
		name string
		at   Stage
		// served is how many calls the backend served in all.
		served int32
	}{{"arrived", Arrived, 1}, {"answered", Answered, 2}}
	client := &http.Client{Transport: &http.Transport{}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, served := backend(t)
			p := start(t, srv.URL, nil)
			h := p.Hold("GetRepositoryPolicy", tt.at)
			ctx, cancel := context.WithCancel(context.Background())
			gaveUp := asyncContext(ctx, client, p.URL, "GetRepositoryPolicy")
			waitHeld(t, h, gaveUp)
			select {
			case <-h.Abandoned():
				t.Fatal("abandoned before its caller gave up")
			default:
			}
			cancel()
			if a := <-gaveUp; a.Err == "" {
				t.Fatalf("the caller that gave up got an answer: %+v", a)
			}
			// The caller has closed its connection: the proxy notices.
			<-h.Abandoned()
			p.mu.Lock()
			left := len(p.holds["GetRepositoryPolicy"])
			p.mu.Unlock()
			if left != 0 {
				t.Fatalf("%d holds left after the abandoned call, want none: the hold re-armed", left)
			}
			if a := call(client, p.URL, "GetRepositoryPolicy"); a != ok {
				t.Errorf("the next call: %+v", a)
			}
			if n := served.Load(); n != tt.served {
				t.Errorf("backend served %d calls, want %d", n, tt.served)
			}
		})
	}
}
