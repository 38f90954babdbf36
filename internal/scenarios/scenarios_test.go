// Package scenarios runs the enforcement behaviours operators rely on —
// modes, drift, own writes, baseline changes, exemptions, the lock-out
// guard and racing deliveries — through the real handler and AWS SDK
// against moto server.
package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/esm"
	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const (
	param    = "/ecr-baseline/baseline-policy"
	selfRole = "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"
	// baseline has two statements keyed by Sid, as merge mode needs.
	baseline = `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"BaselineDenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},` +
		`{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	// team is what a team (or the console) writes on its own.
	team = `{"Version":"2012-10-17","Statement":[{"Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:PutImage"},` +
		`{"Sid":"BaselinePull","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	// merged is team merged with baseline for account 123456789012,
	// written out rather than computed: TeamPush kept verbatim, the team's
	// BaselinePull replaced by the baseline's, the Deny added.
	merged = `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:PutImage"},` +
		`{"Sid":"BaselineDenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},` +
		`{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	lockOut = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}`
)

// env is one moto state and one function instance.
type env struct {
	t       *testing.T
	ecr     *ecr.Client
	ssm     *ssm.Client
	counter *moto.Counter
	awsCfg  aws.Config
	// cfg is the function's configuration, for a second instance.
	cfg envconfig.Config
	h   *handler.Handler
	sqs *sqs.Client
}

func newEnv(t *testing.T, cfg envconfig.Config, baselineText string) *env {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, counter: &moto.Counter{}}
	awsCfg, err := server.Config(ctx, e.counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	e.awsCfg = awsCfg
	e.ecr, e.ssm = ecr.NewFromConfig(awsCfg), ssm.NewFromConfig(awsCfg)
	e.putBaseline(baselineText)
	if err := moto.VersionedBucket(ctx, moto.S3(awsCfg), archiveBucket); err != nil {
		t.Fatal(err)
	}
	cfg.ArchiveBucket = archiveBucket
	cfg.ParameterName = param
	cfg.SelfRoleARN = selfRole
	cfg.CacheTTL = time.Hour // long, so only invalidation can explain a fresh baseline
	if cfg.Mode == "" {
		cfg.Mode = "replace"
	}
	cfg.ReadTPS, cfg.WriteTPS, cfg.Concurrency = 1000, 1000, 8
	e.sqs = sqs.NewFromConfig(awsCfg)
	queues, err := moto.NewSweepQueues(ctx, e.sqs, "sweeps", 5)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SweepQueueURL, cfg.SweepDeadLetterQueueURL, cfg.SweepMaxReceiveCount = queues.URL, queues.DeadLetterURL, queues.MaxReceiveCount
	e.cfg = cfg
	e.h = app.New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Handler
	return e
}

// archiveBucket is the bucket every scenario archives in, as the stack's
// function does.
const archiveBucket = "ecr-baseline-archive"

func (e *env) putBaseline(text string) {
	e.t.Helper()
	if _, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(param), Type: ssmtypes.ParameterTypeString, Value: aws.String(text), Overwrite: aws.Bool(true),
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) create(name string, tags map[string]string) {
	e.t.Helper()
	in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
	for k, v := range tags {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := e.ecr.CreateRepository(context.Background(), in); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setPolicy(name, text string) {
	e.t.Helper()
	if _, err := e.ecr.SetRepositoryPolicy(context.Background(), &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String(name), PolicyText: aws.String(text),
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) policy(name string) *policy.Document {
	e.t.Helper()
	out, err := e.ecr.GetRepositoryPolicy(context.Background(), &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	if err != nil {
		return nil
	}
	doc, err := policy.Parse(aws.ToString(out.PolicyText))
	if err != nil {
		e.t.Fatal(err)
	}
	return doc
}

// event is an events/ sample rewritten for repository name.
func event(t *testing.T, file, name string) json.RawMessage {
	t.Helper()
	return json.RawMessage(strings.ReplaceAll(string(samples.Read(t, file)), "team-a/web", name))
}

// teamWrote is the event of setting team on repository name: CloudTrail
// records the policy the call set, which merge mode restores from.
func teamWrote(t *testing.T, name string) json.RawMessage {
	t.Helper()
	return samples.WithPolicyText(t, event(t, "set-repository-policy.json", name), team)
}

func (e *env) handle(payload json.RawMessage) handler.Response {
	e.t.Helper()
	res, err := e.h.Handle(context.Background(), payload)
	if err != nil {
		e.t.Fatalf("Handle: %v", err)
	}
	return res
}

// sweep handles payload, which starts a sweep, and consumes the sweep
// queue into the function until it is empty (internal/esm): it returns
// what the sweep's items did.
func (e *env) sweep(payload json.RawMessage) enforcer.Tally {
	e.t.Helper()
	if res := e.handle(payload); res.Sweep == nil {
		e.t.Fatalf("%s started no sweep", payload)
	}
	var (
		mu    sync.Mutex
		tally enforcer.Tally
	)
	m := &esm.Mapping{SQS: e.sqs, QueueURL: e.cfg.SweepQueueURL, ReportBatchItemFailures: true,
		Invoke: esm.HandlerInvoke(e.h.Handle, func(res handler.Response) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range res.Results {
				tally.Count(r.Action)
			}
		})}
	if _, err := m.Drain(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return tally
}

func doc(t *testing.T, text string) *policy.Document {
	t.Helper()
	d, err := policy.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func rendered(t *testing.T, tmpl, name string) string {
	t.Helper()
	out, err := policy.Render(tmpl, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: name})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestModes(t *testing.T) {
	tests := []struct {
		mode string
		want func(t *testing.T) *policy.Document
	}{
		{"replace", func(t *testing.T) *policy.Document { return doc(t, rendered(t, baseline, "svc")) }},
		{"merge", func(t *testing.T) *policy.Document { return doc(t, merged) }},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			e := newEnv(t, envconfig.Config{Mode: tt.mode}, baseline)
			e.create("svc", nil)
			e.setPolicy("svc", team)
			e.counter.Reset()
			e.handle(teamWrote(t, "svc"))
			want := tt.want(t)
			if got := e.policy("svc"); !policy.Equal(got, want) {
				t.Errorf("policy %s\nwant %s", got.Canonical(), want.Canonical())
			}
			if n := e.counter.Count("SetRepositoryPolicy"); n != 1 {
				t.Errorf("%d writes, want 1", n)
			}
			// Idempotent: the same event again writes nothing.
			e.counter.Reset()
			res := e.handle(teamWrote(t, "svc"))
			if n := e.counter.Count("SetRepositoryPolicy"); n != 0 || res.Results[0].Action != "unchanged" {
				t.Errorf("second delivery: %d writes, result %+v; want none, unchanged", n, res.Results)
			}
		})
	}
}

func TestDriftIsRemediatedAndOwnWritesIgnored(t *testing.T) {
	e := newEnv(t, envconfig.Config{}, baseline)
	e.create("svc", nil)
	want := doc(t, rendered(t, baseline, "svc"))
	e.handle(event(t, "create-repository.json", "svc"))

	steps := []struct {
		name      string
		change    func()
		event     string
		wantSets  int
		wantState *policy.Document
	}{
		{"someone replaces the policy", func() { e.setPolicy("svc", team) }, "set-repository-policy.json", 1, want},
		{"our own write comes back as an event", func() {}, "set-repository-policy-by-enforcer.json", 0, want},
		{"someone deletes the policy", func() {
			if _, err := e.ecr.DeleteRepositoryPolicy(context.Background(), &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("svc")}); err != nil {
				t.Fatal(err)
			}
		}, "delete-repository-policy.json", 1, want},
	}
	for _, s := range steps {
		s.change()
		e.counter.Reset()
		payload := event(t, s.event, "svc")
		if s.event == "set-repository-policy-by-enforcer.json" {
			payload = samples.WithPolicyText(t, payload, rendered(t, baseline, "svc"))
		}
		e.handle(payload)
		if n := e.counter.Count("SetRepositoryPolicy"); n != s.wantSets {
			t.Errorf("%s: %d writes, want %d", s.name, n, s.wantSets)
		}
		if n := e.counter.Count("GetRepositoryPolicy"); s.wantSets == 0 && n != 0 {
			t.Errorf("%s: %d reads; an own write should not even be read", s.name, n)
		}
		if got := e.policy("svc"); !policy.Equal(got, s.wantState) {
			t.Errorf("%s: policy %v, want the baseline", s.name, got)
		}
	}
}

// TestBaselineChangeReenforcesFleet: a baseline change (or the first
// deploy, which creates the parameter) starts a sweep that writes only
// when the operator opted in with applyToExistingRepositories; otherwise it
// reports what it would change and writes nothing. New repositories get
// the new baseline either way.
func TestBaselineChangeReenforcesFleet(t *testing.T) {
	for _, optedIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("applyToExistingRepositories=%v", optedIn), func(t *testing.T) {
			e := newEnv(t, envconfig.Config{ApplyToExisting: optedIn}, baseline)
			names := make([]string, 50)
			for i := range names {
				names[i] = "fleet/svc-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
				e.create(names[i], nil)
			}
			// Warm the cache with the old baseline.
			e.handle(event(t, "create-repository.json", names[0]))
			before := e.policy(names[0])
			newBaseline := strings.Replace(baseline, `"ecr:GetDownloadUrlForLayer"]`, `"ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]`, 1)
			e.putBaseline(newBaseline)

			e.counter.Reset()
			got := e.sweep(event(t, "parameter-change.json", ""))
			want := enforcer.Tally{WouldApply: 50}
			if optedIn {
				want = enforcer.Tally{Applied: 50}
			}
			if got != want {
				t.Fatalf("the sweep did %+v, want %+v", got, want)
			}
			if n := e.counter.Count("GetParameter"); n != 1 {
				t.Errorf("GetParameter calls = %d, want 1: the cache must be refreshed at once, then reused", n)
			}
			if n, want := e.counter.Count("SetRepositoryPolicy"), map[bool]int{false: 0, true: 50}[optedIn]; n != want {
				t.Errorf("SetRepositoryPolicy calls = %d, want %d", n, want)
			}
			for _, n := range names {
				got := e.policy(n)
				switch {
				case optedIn && !policy.Equal(got, doc(t, rendered(t, newBaseline, n))):
					t.Fatalf("%s holds %v, want the new baseline", n, got)
				case !optedIn && n == names[0] && !policy.Equal(got, before):
					t.Fatalf("%s holds %v, want its policy untouched by the report-only run", n, got)
				case !optedIn && n != names[0] && got != nil:
					t.Fatalf("%s holds %v, want no policy: the report-only run wrote", n, got)
				}
			}
			// The next event, well inside the TTL, sees the new baseline too.
			e.create("late", nil)
			e.handle(event(t, "create-repository.json", "late"))
			if got := e.policy("late"); !policy.Equal(got, doc(t, rendered(t, newBaseline, "late"))) {
				t.Errorf("late repository holds %v, want the new baseline", got)
			}
		})
	}
}

func TestExemptions(t *testing.T) {
	cfg := envconfig.Config{ExemptTagKey: "ecr-baseline:exempt", ExemptTagValue: "true", ExemptGlobs: []string{"sandbox/*"}}
	e := newEnv(t, cfg, baseline)
	e.create("tagged", map[string]string{"ecr-baseline:exempt": "true"})
	e.create("sandbox/play", nil)
	e.create("normal", nil)
	e.setPolicy("tagged", team)

	if got := e.sweep(json.RawMessage(`{"action":"sweep","dryRun":false}`)); got != (enforcer.Tally{Exempt: 2, Applied: 1}) {
		t.Fatalf("the sweep did %+v, want 2 exempt, 1 applied", got)
	}
	if got := e.policy("tagged"); !policy.Equal(got, doc(t, team)) {
		t.Errorf("tagged repository was touched: %v", got)
	}
	if got := e.policy("sandbox/play"); got != nil {
		t.Errorf("sandbox repository was given a policy: %s", got.Canonical())
	}
	ev := e.handle(event(t, "create-repository.json", "sandbox/play"))
	if ev.Results[0].Action != "exempt" || ev.Results[0].Reason != `name matches exemption pattern "sandbox/*"` {
		t.Errorf("event on an exempt repository: %+v", ev.Results)
	}
	if n := e.counter.Count("SetRepositoryPolicy"); n != 2 { // the setup write to "tagged" and "normal"
		t.Errorf("%d writes in all, want 2", n)
	}
}

func TestLockOutGuard(t *testing.T) {
	for _, force := range []bool{false, true} {
		e := newEnv(t, envconfig.Config{Force: force}, lockOut)
		e.create("svc", nil)
		_, err := e.h.Handle(context.Background(), event(t, "create-repository.json", "svc"))
		if !force {
			if err == nil || !strings.Contains(err.Error(), "would stop this account from setting the policy again; set force to apply it anyway") {
				t.Errorf("without force: error %v, want the lock-out refusal", err)
			}
			if n := e.counter.Count("SetRepositoryPolicy"); n != 0 {
				t.Errorf("without force: %d writes", n)
			}
			continue
		}
		if err != nil {
			t.Fatalf("with force: %v", err)
		}
		if got := e.policy("svc"); !policy.Equal(got, doc(t, lockOut)) {
			t.Errorf("with force: policy %v, want the lock-out baseline", got)
		}
	}
}

// TestRacingDeliveriesConverge replays the console's sequence —
// CreateRepository, then its own SetRepositoryPolicy — with events delivered
// late, out of order and more than once, and the function's own writes
// echoed back. Whatever the order, the repository ends on the baseline
// (merged with the console's statements in merge mode) and the function
// writes at most once per foreign change.
func TestRacingDeliveriesConverge(t *testing.T) {
	for _, mode := range []string{"replace", "merge"} {
		for seed := uint64(1); seed <= 6; seed++ {
			e := newEnv(t, envconfig.Config{Mode: mode}, baseline)
			rng := rand.New(rand.NewPCG(seed, 99))
			e.create("race", nil)
			queue := []string{"create-repository.json"}
			consoleWrote := false
			for step := 0; len(queue) > 0 || !consoleWrote; step++ {
				if step > 50 {
					t.Fatalf("%s seed %d: no convergence after 50 steps", mode, seed)
				}
				// The console writes at a random point, then its event is queued.
				if !consoleWrote && (len(queue) == 0 || rng.IntN(3) == 0) {
					e.setPolicy("race", team)
					consoleWrote = true
					queue = append(queue, "set-repository-policy.json")
				}
				if len(queue) == 0 {
					continue
				}
				i := rng.IntN(len(queue))
				ev := queue[i]
				if rng.IntN(4) != 0 { // sometimes delivered again later
					queue = append(queue[:i], queue[i+1:]...)
				}
				var payload json.RawMessage
				switch written, own := strings.CutPrefix(ev, "own:"); {
				case own:
					payload = samples.WithPolicyText(t, event(t, "set-repository-policy-by-enforcer.json", "race"), written)
				case ev == "set-repository-policy.json":
					payload = teamWrote(t, "race")
				default:
					payload = event(t, ev, "race")
				}
				res := e.handle(payload)
				if len(res.Results) == 1 && res.Results[0].Action == "applied" {
					// The function's write comes back carrying what it wrote.
					out, err := e.ecr.GetRepositoryPolicy(context.Background(), &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("race")})
					if err != nil {
						t.Fatal(err)
					}
					queue = append(queue, "own:"+aws.ToString(out.PolicyText))
				}
			}
			want := doc(t, rendered(t, baseline, "race"))
			if mode == "merge" {
				want = doc(t, merged)
			}
			if got := e.policy("race"); !policy.Equal(got, want) {
				t.Errorf("%s seed %d: ended on %s\nwant %s", mode, seed, got.Canonical(), want.Canonical())
			}
			// One write for the creation and one for the console's change at most.
			if n := e.counter.Count("SetRepositoryPolicy") - 1; n > 2 {
				t.Errorf("%s seed %d: %d writes by the function, want at most 2", mode, seed, n)
			}
		}
	}
}

// TestCallsPerEventWithDefaults counts the AWS calls of a function with
// nothing configured but the parameter and the archive bucket, as the
// stack deploys it: each event reads the repository's policy (tag
// exemption is off by default, so no tags), writes only when needed,
// archiving each write with one PutObject, and SSM is read once per cache
// period.
func TestCallsPerEventWithDefaults(t *testing.T) {
	e := newEnv(t, envconfig.Config{}, baseline)
	set := map[string]string{"BASELINE_PARAMETER_NAME": param, "ARCHIVE_BUCKET": archiveBucket}
	cfg, err := envconfig.Load(func(k string) (string, bool) {
		v, ok := set[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CheckFunction(cfg); err != nil {
		t.Fatal(err)
	}
	e.h = app.New(cfg, e.awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Handler
	names := []string{"calls/a", "calls/b", "calls/c"}
	for _, name := range names {
		e.create(name, nil)
	}
	for round, wantSets := range []int{len(names), 0} {
		e.counter.Reset()
		for _, name := range names {
			e.handle(event(t, "create-repository.json", name))
		}
		want := map[string]int{"ListTagsForResource": 0, "GetRepositoryPolicy": len(names), "SetRepositoryPolicy": wantSets, "PutObject": wantSets, "GetParameter": 1 - round}
		for op, n := range want {
			if got := e.counter.Count(op); got != n {
				t.Errorf("delivery %d of %d events: %d %s calls, want %d", round+1, len(names), got, op, n)
			}
		}
	}
}

// Changing the exemption tag brings the baseline back at the next tag
// event; a tag change that keeps the exemption writes nothing.
func TestExemptionTagChangesReenforce(t *testing.T) {
	const key = "ecr-baseline:exempt"
	e := newEnv(t, envconfig.Config{ExemptTagKey: key, ExemptTagValue: "true"}, baseline)
	arn := func(name string) *string {
		return aws.String("arn:aws:ecr:" + moto.Region + ":" + moto.AccountID + ":repository/" + name)
	}
	tag := func(name, value string) {
		t.Helper()
		if _, err := e.ecr.TagResource(context.Background(), &ecr.TagResourceInput{ResourceArn: arn(name),
			Tags: []ecrtypes.Tag{{Key: aws.String(key), Value: aws.String(value)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"untagged", "retagged", "still-exempt"} {
		e.create(name, map[string]string{key: "true"})
		e.setPolicy(name, team)
	}

	if _, err := e.ecr.UntagResource(context.Background(), &ecr.UntagResourceInput{ResourceArn: arn("untagged"), TagKeys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	tag("retagged", "false")
	tag("still-exempt", "true")
	tests := []struct {
		name, file, action string
		want               *policy.Document
	}{
		{"untagged", "untag-resource.json", "applied", doc(t, rendered(t, baseline, "untagged"))},
		{"retagged", "tag-resource.json", "applied", doc(t, rendered(t, baseline, "retagged"))},
		{"still-exempt", "tag-resource.json", "exempt", doc(t, team)},
	}
	for _, tt := range tests {
		res := e.handle(event(t, tt.file, tt.name))
		if len(res.Results) != 1 || string(res.Results[0].Action) != tt.action {
			t.Errorf("%s: results %+v, want %s", tt.name, res.Results, tt.action)
		}
		if got := e.policy(tt.name); !policy.Equal(got, tt.want) {
			t.Errorf("%s: policy %v, want %v", tt.name, got, tt.want)
		}
	}
	if n := e.counter.Count("SetRepositoryPolicy"); n != 3+2 { // three setup writes, two re-enforcements
		t.Errorf("%d writes in all, want 5", n)
	}
}

// TestRaceLostStatementIsPutBack is issue 10's item 2 in merge mode: a
// team sets a policy, and sets another one (adding TeamB) between the
// function's read of the first and its write; the function's merged write
// drops TeamB. The fault proxy in front of the function puts the team's
// write there: it holds the function's read once moto has answered it, or
// its write before moto sees it, while the team writes to moto directly.
// The team's second event, which carries the policy it set, must put
// TeamB back: before, it read the merged policy, found it compliant and
// left TeamB lost. The same event delivered late or redriven from the DLQ
// (older than handler.RaceRepairMaxAge) puts nothing back: the team may
// have removed the statement since.
func TestRaceLostStatementIsPutBack(t *testing.T) {
	sent, err := time.Parse(time.RFC3339, "2026-11-02T11:12:09Z") // the sample's time
	if err != nil {
		t.Fatal(err)
	}
	const teamB = `{"Sid":"TeamB","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:BatchGetImage"}`
	holds := []struct {
		name string
		op   string
		at   faultproxy.Stage
	}{
		{"read held once answered", "GetRepositoryPolicy", faultproxy.Answered},
		{"write held before moto sees it", "SetRepositoryPolicy", faultproxy.Arrived},
	}
	ages := []struct {
		name     string
		age      time.Duration
		wantBack bool
	}{
		{name: "delivered at once", age: 5 * time.Second, wantBack: true},
		{name: "delivered within the repair window", age: handler.RaceRepairMaxAge, wantBack: true},
		{name: "delivered an hour late", age: time.Hour},
	}
	for _, hold := range holds {
		for _, tt := range ages {
			t.Run(hold.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, envconfig.Config{Mode: "merge"}, baseline)
				e.h.Now = func() time.Time { return sent.Add(tt.age) }
				const name = "race/web"
				e.create(name, nil)
				e.setPolicy(name, team)
				withTeamB := strings.Replace(team, `{"Sid":"BaselinePull"`, teamB+`,{"Sid":"BaselinePull"`, 1)

				proxy, err := faultproxy.Start(server.URL, nil, 1)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { proxy.Close() })
				proxied, err := moto.Config(context.Background(), proxy.URL)
				if err != nil {
					t.Fatal(err)
				}
				// No attempt timeout (awsconfig.AttemptTimeout): however
				// slow the run, the racing client never gives up the held
				// call, whose retry would pass unheld.
				proxied.HTTPClient = awshttp.NewBuildableClient()
				racing := app.New(e.cfg, proxied, slog.New(slog.NewJSONHandler(io.Discard, nil))).Handler
				racing.Now = func() time.Time { return sent }
				held := proxy.Hold(hold.op, hold.at)

				first := samples.WithPolicyText(t, event(t, "set-repository-policy.json", name), team)
				var res handler.Response
				done := make(chan error, 1)
				go func() {
					var err error
					res, err = racing.Handle(context.Background(), first)
					done <- err
				}()
				select {
				case <-held.Waiting():
				case err := <-done:
					t.Fatalf("the first event was handled without its %s being held: %+v, %v", hold.op, res, err)
				}
				e.setPolicy(name, withTeamB)
				held.Release()
				if err := <-done; err != nil || res.Results[0].Action != enforcer.Applied {
					t.Fatalf("first event: %+v, %v; want applied", res, err)
				}
				// Every attempt is counted before it is held or forwarded:
				// a second one is a retry of an abandoned held call.
				if n := proxy.Stats(hold.op).Calls; n != 1 {
					t.Fatalf("the first event made %d %s attempts, want 1: the held one was given up and retried unheld, so the race cannot be told", n, hold.op)
				}
				lost := doc(t, `{"Version":"2012-10-17","Statement":[`+teamB+`]}`)
				if got := e.policy(name); policy.Contains(got, lost) {
					t.Fatalf("the race did not happen: TeamB survived the first write: %+v", got)
				}

				second := samples.WithPolicyText(t, event(t, "set-repository-policy.json", name), withTeamB)
				res = e.handle(second)
				want := enforcer.Unchanged
				if tt.wantBack {
					want = enforcer.Applied
				}
				if res.Results[0].Action != want {
					t.Errorf("second event: %+v; want %s", res.Results, want)
				}
				if got := e.policy(name); policy.Contains(got, lost) != tt.wantBack {
					t.Errorf("%s holds %+v; TeamB put back: %v, want %v", name, got, !tt.wantBack, tt.wantBack)
				}
			})
		}
	}
}
