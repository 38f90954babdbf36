package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecr-baseline/ecr-baseline/internal/esm"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const selfRole = "arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"

// updated is a changed baseline: the account may no longer check layers.
var updated = strings.Replace(policies.Baseline, `"ecr:BatchCheckLayerAvailability",`, "", 1)

func TestAccountOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", "123456789012"},
		{"arn:aws-cn:iam::210987654321:role/path/to/role", "210987654321"},
		{"", ""},
		{"arn:aws:sts::123456789012:assumed-role/r/s", ""},
		{"arn:aws:iam::12345:role/r", ""},
	}
	for _, tt := range tests {
		if got := accountOf(tt.arn); got != tt.want {
			t.Errorf("accountOf(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}

// TestNewECRReservesWithItsRetryPolicy: the ECR client's own pacing
// retry policy takes a merge's write attempt token before the read; a
// plain retry policy leaves only the ceiling to reserve.
func TestNewECRReservesWithItsRetryPolicy(t *testing.T) {
	tests := []struct {
		name    string
		retryer func() aws.Retryer
		want    bool
	}{
		{"awsconfig.Load's paced policy", nil, true},
		{"a test's plain policy", func() aws.Retryer { return awsconfig.NewRetryer(0) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := server.Config(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tt.retryer != nil {
				cfg.Retryer = tt.retryer
			}
			if got := newECR(cfg, envconfig.Config{}).Attempts != nil; got != tt.want {
				t.Errorf("reserves attempt tokens: %v, want %v", got, tt.want)
			}
		})
	}
}

// container is one warm Lambda container: its own clients, baseline cache
// (an hour, so only invalidation or a version refreshes it) and call
// counter.
type container struct {
	*app
	calls *moto.Counter
}

func newContainer(t *testing.T, env ...string) *container {
	t.Helper()
	return newContainerAt(t, server.URL, env...)
}

// newContainerAt is a container reaching AWS at endpoint: moto, or a proxy
// in front of it.
func newContainerAt(t *testing.T, endpoint string, env ...string) *container {
	t.Helper()
	c := &container{calls: &moto.Counter{}}
	awsCfg, err := moto.Config(context.Background(), endpoint, c.calls.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"BASELINE_PARAMETER_NAME": fleet.Parameter, "BASELINE_CACHE_TTL": "1h", "SELF_ROLE_ARN": selfRole, "EXEMPT_TAG": ""}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := envconfig.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c.app = New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	return c
}

// sweepQueues creates the sweep queues on moto (after seed, which resets
// it) and returns the environment that names them.
func sweepQueues(t *testing.T) []string {
	t.Helper()
	q, err := moto.NewSweepQueues(context.Background(), sqsClient(t), "sweeps", 5)
	if err != nil {
		t.Fatal(err)
	}
	return q.Env()
}

func sqsClient(t *testing.T) *sqs.Client {
	t.Helper()
	cfg, err := server.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg)
}

// deadLetters reads the sweep dead-letter queue that env names.
func deadLetters(t *testing.T, env []string) []moto.Message {
	t.Helper()
	for _, kv := range env {
		if url, ok := strings.CutPrefix(kv, "SWEEP_DEAD_LETTER_QUEUE_URL="); ok {
			msgs, err := moto.Drain(context.Background(), sqsClient(t), url)
			if err != nil {
				t.Fatal(err)
			}
			return msgs
		}
	}
	t.Fatal("no dead-letter queue in the environment")
	return nil
}

// consume runs the sweep queue's event source mapping (internal/esm) into
// c until the queue is empty, and returns every repository result.
func (c *container) consume(t *testing.T) []enforcer.Result {
	t.Helper()
	var (
		mu      sync.Mutex
		results []enforcer.Result
	)
	m := &esm.Mapping{SQS: sqsClient(t), QueueURL: c.Handler.Queue.(sweep.Queue).URL, ReportBatchItemFailures: true, MaximumConcurrency: 2,
		Invoke: esm.HandlerInvoke(c.Handler.Handle, func(res handler.Response) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, res.Results...)
		})}
	if _, err := m.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(results, func(a, b enforcer.Result) int { return strings.Compare(a.Repository, b.Repository) })
	return results
}

func (c *container) handle(t *testing.T, payload []byte) []enforcer.Result {
	t.Helper()
	res, err := c.Handler.Handle(context.Background(), payload)
	if err != nil {
		t.Fatalf("Handle %.80s: %v", payload, err)
	}
	return res.Results
}

func seed(t *testing.T, repos ...fleet.Repo) *fleet.Fleet {
	t.Helper()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	direct, err := server.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := fleet.New(direct, policies.Baseline)
	if err := f.Seed(context.Background(), repos...); err != nil {
		t.Fatal(err)
	}
	return f
}

// change stores a new baseline template, as an operator would.
func change(t *testing.T, f *fleet.Fleet, template string) {
	t.Helper()
	if _, err := f.SSM.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(fleet.Parameter), Type: ssmtypes.ParameterTypeString, Value: aws.String(template), Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	f.Template = template
}

const applyToExisting = "APPLY_TO_EXISTING_REPOSITORIES=true"

// TestFirstDeploy delivers the parameter's creation event to a fresh
// container, as the first deploy does, and consumes the sweep it starts:
// without the opt-in the sweep reports what it would change and writes
// nothing; with it, it writes.
func TestFirstDeploy(t *testing.T) {
	tests := []struct {
		name        string
		env         []string
		wantWrites  int
		wantResults []enforcer.Result
	}{
		{name: "without the opt-in: a dry run with a report",
			wantResults: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.WouldApply}, {Repository: "team-b/api", Action: enforcer.Unchanged}}},
		{name: "opted in: applied", env: []string{applyToExisting}, wantWrites: 1,
			wantResults: []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied}, {Repository: "team-b/api", Action: enforcer.Unchanged}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			team := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamA","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`
			compliant, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: "team-b/api"})
			if err != nil {
				t.Fatal(err)
			}
			f := seed(t, fleet.Repo{Name: "team-a/web", Policy: team}, fleet.Repo{Name: "team-b/api", Policy: compliant})
			c := newContainer(t, append(sweepQueues(t), tt.env...)...)
			res, err := c.Handler.Handle(context.Background(), samples.Read(t, "parameter-change.json"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Sweep == nil || res.Sweep.DryRun != (tt.wantWrites == 0) {
				t.Fatalf("sweep %+v, want one started with dryRun %v", res.Sweep, tt.wantWrites == 0)
			}
			got := c.consume(t)
			if diff := cmp.Diff(tt.wantResults, got, cmpopts.IgnoreFields(enforcer.Result{}, "Reason", "Archive", "Diff")); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := c.calls.Count("SetRepositoryPolicy"); n != tt.wantWrites {
				t.Errorf("wrote %d policies, want %d", n, tt.wantWrites)
			}
			held, err := f.ReadBack(context.Background(), []string{"team-a/web"})
			if err != nil {
				t.Fatal(err)
			}
			if got := held["team-a/web"].Compliant; got != (tt.wantWrites == 1) {
				t.Errorf("team-a/web compliant = %v after the sweep, holds %s", got, held["team-a/web"].Policy)
			}
		})
	}
}

// TestSweepInStaleContainer changes the baseline while container B holds
// the old one; A handles the change and B consumes the whole sweep: the
// items carry the new baseline's version, so B must reload it, once, and
// enforce the new baseline everywhere.
func TestSweepInStaleContainer(t *testing.T) {
	const size = 8
	repos := make([]fleet.Repo, size)
	names := make([]string, size)
	for i := range repos {
		names[i] = fmt.Sprintf("fleet/r%d", i)
		old, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: names[i]})
		if err != nil {
			t.Fatal(err)
		}
		repos[i] = fleet.Repo{Name: names[i], Policy: old}
	}
	f := seed(t, repos...)
	env := append(sweepQueues(t), applyToExisting)
	a, b := newContainer(t, env...), newContainer(t, env...)
	b.handle(t, samples.Read(t, "create-repository.json")) // warm: B caches the old baseline

	change(t, f, updated)
	if _, err := a.Handler.Handle(context.Background(), samples.Read(t, "parameter-change.json")); err != nil {
		t.Fatal(err)
	}
	b.calls.Reset()
	got := b.consume(t)
	if len(got) != size {
		t.Fatalf("B enforced %d repositories, want %d: %+v", len(got), size, got)
	}
	for _, r := range got {
		if r.Action != enforcer.Applied {
			t.Errorf("%s: %s (%s), want applied: B must not judge the fleet against the old baseline", r.Repository, r.Action, r.Reason)
		}
	}
	if n := b.calls.Count("GetParameter"); n != 1 {
		t.Errorf("B read the baseline %d times, want once", n)
	}
	held, err := f.ReadBack(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !held[name].Compliant {
			t.Errorf("%s holds %s, want the new baseline", name, held[name].Policy)
		}
	}
}

// ownWrite is the event CloudTrail sends for a policy this function's role
// wrote to team-a/web.
func ownWrite(t *testing.T, written string) []byte {
	t.Helper()
	return samples.WithPolicyText(t, samples.Read(t, "set-repository-policy-by-enforcer.json"), written)
}

// staleWrite seeds team-a/web, warms a container with the old baseline,
// changes the baseline, and has a person open the policy, which that stale
// container then restores to the old baseline: it returns the fleet, the
// container and the policy it wrote.
func staleWrite(t *testing.T, env ...string) (*fleet.Fleet, *container, string) {
	t.Helper()
	f := seed(t, fleet.Repo{Name: "team-a/web"})
	stale := newContainer(t, env...)
	stale.handle(t, samples.Read(t, "create-repository.json")) // warm with the old baseline
	change(t, f, updated)
	if _, err := f.ECR.SetRepositoryPolicy(context.Background(), &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String("team-a/web"), PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	if r := stale.handle(t, samples.Read(t, "set-repository-policy.json")); r[0].Action != enforcer.Applied {
		t.Fatalf("drift in the stale container: %+v", r)
	}
	written, err := f.Policy(context.Background(), "team-a/web")
	if err != nil {
		t.Fatal(err)
	}
	return f, stale, written
}

// TestOwnWritesConverge lets a stale container write the old baseline and
// then hands each own write to the other container, alternately, as
// EventBridge may: the fresh one corrects it once, the stale one reloads
// on seeing a write it does not carry, and the writes stop.
func TestOwnWritesConverge(t *testing.T) {
	for _, mode := range []string{"replace", "merge"} {
		t.Run(mode, func(t *testing.T) {
			f, stale, written := staleWrite(t, "ENFORCEMENT_MODE="+mode)
			fresh := newContainer(t, "ENFORCEMENT_MODE="+mode)
			var err error
			containers := []*container{fresh, stale}
			extra := 0
			for i := 0; i < 6; i++ {
				c := containers[i%2]
				r := c.handle(t, ownWrite(t, written))
				if r[0].Action == enforcer.Applied {
					extra++
					if written, err = f.Policy(context.Background(), "team-a/web"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if extra != 1 {
				t.Errorf("%d extra writes, want exactly one: the fresh container's correction", extra)
			}
			rendered, err := f.Rendered("team-a/web")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := policy.Parse(rendered)
			got, err := policy.Parse(written)
			if err != nil || (mode == "replace" && !policy.Equal(got, want)) || !policy.Contains(got, want) {
				t.Errorf("team-a/web holds %s, want the new baseline", written)
			}
			// Once both agree, an own write costs no ECR call.
			fresh.calls.Reset()
			if r := fresh.handle(t, ownWrite(t, written)); r[0].Action != enforcer.Skipped {
				t.Errorf("own write carrying the baseline: %+v, want skipped", r)
			}
			for _, op := range []string{"GetParameter", "ListTagsForResource", "GetRepositoryPolicy", "SetRepositoryPolicy"} {
				if n := fresh.calls.Count(op); n != 0 {
					t.Errorf("skipping an own write made %d %s calls", n, op)
				}
			}
		})
	}
}

// TestEventElsewhereIsAnError sends events for repositories the function's
// ECR client cannot reach: moto, like ECR, would answer RepositoryNotFound
// and the event would be skipped as deleted. They fail instead, for
// Lambda's retries and the dead-letter queue.
func TestEventElsewhereIsAnError(t *testing.T) {
	seed(t, fleet.Repo{Name: "team-a/web"})
	create := string(samples.Read(t, "create-repository.json"))
	tests := []struct {
		name, payload, want string
	}{
		{"another region", strings.ReplaceAll(create, "us-east-1", "eu-west-1"), "in region eu-west-1, this function enforces us-east-1"},
		{"another account", strings.ReplaceAll(create, "123456789012", "210987654321"), "in account 210987654321, this function enforces 123456789012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContainer(t)
			_, err := c.Handler.Handle(context.Background(), []byte(tt.payload))
			if !errors.Is(err, enforcer.ErrElsewhere) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v; want %v saying %q", err, enforcer.ErrElsewhere, tt.want)
			}
		})
	}
}

// TestStaleOwnWriteSeenByItsWriter is the case no other container corrects:
// a container that still holds the old baseline writes it and then sees
// its own write. Once its cache is older than OwnWriteMaxAge (0 here, as
// if that time had passed) it reads the baseline again, finds the write
// does not carry it, and enforces the new one.
func TestStaleOwnWriteSeenByItsWriter(t *testing.T) {
	f, stale, written := staleWrite(t)
	if ok, _ := f.Compliant(context.Background(), "team-a/web"); ok {
		t.Fatal("the stale container wrote the new baseline: the test needs it to write the old one")
	}

	stale.Handler.OwnWriteMaxAge = 0
	if r := stale.handle(t, ownWrite(t, written)); r[0].Action != enforcer.Applied {
		t.Errorf("own stale write seen by its writer: %+v, want the new baseline applied", r)
	}
	if ok, err := f.Compliant(context.Background(), "team-a/web"); err != nil || !ok {
		t.Errorf("team-a/web does not hold the new baseline (%v)", err)
	}
}
