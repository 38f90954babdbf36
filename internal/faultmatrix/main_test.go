// Package faultmatrix proves what ecr-baseline does when AWS misbehaves:
// every entry path (a CreateRepository event, a drift event, a sweep)
// under every fault a fault-injecting proxy in front of moto can produce
// (throttling, 500s, calls slower than the attempt timeout, access denied,
// dropped connections), a large sweep under mixed random faults, and
// the same event delivered twice at once. The function archives every
// policy before it writes one, through the proxy too. Outcomes, the
// archive's records included, are read back from moto directly, never
// through the proxy.
package faultmatrix

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-baseline/ecr-baseline/internal/esm"
	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const (
	// slowBy is how long the proxy would hold a Slow call; the handlers'
	// clients never wait for it (see newHandler).
	slowBy = 10 * time.Second
	// maxBackoff shortens the SDK's backoff (up to 20 s in production) so
	// eight attempts take milliseconds; the number of attempts is unchanged.
	maxBackoff = 5 * time.Millisecond
	// maxReceiveCount is the sweep queue's: an item failing every
	// delivery is delivered this many times.
	maxReceiveCount = 5
)

// archiveBucket is where the function archives each policy before it
// writes, as the stack's function does (ARCHIVE_BUCKET).
const archiveBucket = "ecr-baseline-archive"

// rig is one moto state, a proxy in front of moto and a function instance
// that reaches AWS only through the proxy, with its sweep queues and
// archive bucket.
type rig struct {
	fleet  *fleet.Fleet
	proxy  *faultproxy.Proxy
	h      *handler.Handler
	queues moto.SweepQueues
	// sqs and s3 reach moto directly, as the event source mapping and a
	// reader of the archive do.
	sqs *sqs.Client
	s3  *s3.Client
}

// newRig resets moto, seeds repos, creates the archive bucket and starts
// a proxy with rules, and a function instance whose attempts the Slow
// faults time out at once.
func newRig(t *testing.T, rules map[string]faultproxy.Rule, repos ...fleet.Repo) *rig {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	direct, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{fleet: fleet.New(direct, policies.Baseline)}
	if err := r.fleet.Seed(ctx, repos...); err != nil {
		t.Fatal(err)
	}
	r.sqs, r.s3 = sqs.NewFromConfig(direct), moto.S3(direct)
	if err := moto.VersionedBucket(ctx, r.s3, archiveBucket); err != nil {
		t.Fatal(err)
	}
	if r.queues, err = moto.NewSweepQueues(ctx, r.sqs, "sweeps", maxReceiveCount); err != nil {
		t.Fatal(err)
	}
	if r.proxy, err = faultproxy.Start(server.URL, rules, 7); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.proxy.Close() })
	r.h = newHandler(t, r.proxy.URL, instantTimeouts(), r.queues.Env()...)
	return r
}

// swept is what a sweep's items did.
type swept struct {
	results []enforcer.Result
	tally   enforcer.Tally
	// dead are the dead-letter queue's messages.
	dead  []moto.Message
	stats esm.Stats
}

// consume runs the sweep queue's event source mapping (internal/esm) into
// the rig's function until the queue is empty, then reads the dead-letter
// queue. before, when set, sees each batch before the function does.
func (r *rig) consume(t *testing.T, before ...func(ctx context.Context, payload []byte)) swept {
	t.Helper()
	var (
		mu  sync.Mutex
		out swept
	)
	m := &esm.Mapping{SQS: r.sqs, QueueURL: r.queues.URL, ReportBatchItemFailures: true,
		Invoke: esm.HandlerInvoke(func(ctx context.Context, payload json.RawMessage) (handler.Response, error) {
			for _, f := range before {
				f(ctx, payload)
			}
			return r.h.Handle(ctx, payload)
		}, func(res handler.Response) {
			mu.Lock()
			defer mu.Unlock()
			for _, x := range res.Results {
				out.results = append(out.results, x)
				out.tally.Count(x.Action)
			}
		})}
	var err error
	if out.stats, err = m.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.dead, err = moto.Drain(context.Background(), r.sqs, r.queues.DeadLetterURL); err != nil {
		t.Fatal(err)
	}
	return out
}

// instantTimeouts is an HTTP client with the production attempt timeout,
// under which a call the proxy holds as Slow times out at once: the
// matrix is about what follows a timed-out attempt, not about waiting for
// one (faultproxy's TestInstantTimeoutsMatchAttemptTimeout checks the
// stand-in against a real timeout).
func instantTimeouts() aws.HTTPClient {
	return &http.Client{Timeout: awsconfig.AttemptTimeout, Transport: faultproxy.InstantTimeouts(http.DefaultTransport.(*http.Transport).Clone())}
}

// newHandler is one function instance (one Lambda container) with the
// production configuration, reaching AWS at endpoint through client; env
// ("KEY=value") overrides it.
func newHandler(t *testing.T, endpoint string, client aws.HTTPClient, env ...string) *handler.Handler {
	t.Helper()
	awsCfg, err := moto.Config(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg.HTTPClient = client
	// The plain retry policy, not Load's paced one: rows that throttle
	// every attempt would hold the adaptive limiter at its floor of half a
	// call per second (make bench measures pacing).
	awsCfg.Retryer = func() aws.Retryer { return awsconfig.NewRetryer(maxBackoff) }
	// The function's defaults with pacing out of the way, and tag
	// exemption on, so ListTagsForResource is called too; its role and
	// archive bucket as the stack sets them, the role naming its account.
	vars := map[string]string{"BASELINE_PARAMETER_NAME": fleet.Parameter, "ARCHIVE_BUCKET": archiveBucket, "ECR_READ_TPS": "1000", "ECR_WRITE_TPS": "1000",
		"EXEMPT_TAG": "ecr-baseline:exempt=true", "SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := envconfig.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return app.New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Handler
}

// handle invokes the function the way Lambda does for an async event.
func (r *rig) handle(payload []byte) (handler.Response, error) {
	return r.h.Handle(context.Background(), json.RawMessage(payload))
}

// archiveKey matches an archive record's bucket and key, as an error
// names it, its "@" escaped in a URL: the time and hash in the key differ
// from run to run.
var archiveKey = regexp.MustCompile(archiveBucket + `/[0-9]{12}/[a-z0-9-]+/[^@"]+(@|%40)[0-9]{8}T[0-9.]+Z_[a-z]+_[0-9a-f]{16}\.json`)

// normalize makes an error text comparable: the proxy's address becomes
// PROXY, an archive record's bucket and key ARCHIVE_KEY, and the words of
// a transport error (which vary between EOF, "connection reset by peer"
// and the kinds of timeout) become <transport error>; the words are
// returned apart.
func normalize(text, proxyURL string) (string, string) {
	text = strings.ReplaceAll(text, proxyURL, "PROXY")
	text = archiveKey.ReplaceAllString(text, "ARCHIVE_KEY")
	const sent = "request send failed, "
	before, request, found := strings.Cut(text, sent)
	if !found {
		return text, ""
	}
	// The request's method and URL, then the transport's words.
	request, transport, _ := strings.Cut(request, `": `)
	return before + sent + request + `": <transport error>`, transport
}

// archived lists the archive's records, read from moto directly: every
// version of every key, so a record written twice counts twice.
func (r *rig) archived(t *testing.T) []string {
	t.Helper()
	out, err := r.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(archiveBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(out.IsTruncated) {
		t.Fatalf("the archive holds more than a page of records")
	}
	keys := make([]string, 0, len(out.Versions))
	for _, v := range out.Versions {
		keys = append(keys, aws.ToString(v.Key))
	}
	sort.Strings(keys)
	return keys
}

// transportErrorFits reports whether a transport error is what fault
// causes: a connection closed without an answer, or an attempt timeout.
func transportErrorFits(fault faultproxy.Fault, transport string) bool {
	switch fault {
	case faultproxy.Drop:
		return transport == "EOF" || strings.HasSuffix(transport, "connection reset by peer")
	case faultproxy.Slow:
		return transport == "context deadline exceeded"
	}
	return transport == ""
}
