package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
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

// container is one warm Lambda container: its own clients, baseline cache
// (an hour, so only invalidation or a version refreshes it) and call
// counter.
type container struct {
	*app
	calls *moto.Counter
	queue *queue
}

// queue keeps the payloads a container queues for itself.
type queue struct{ payloads [][]byte }

func (q *queue) Continue(_ context.Context, payload []byte) error {
	q.payloads = append(q.payloads, payload)
	return nil
}

func newContainer(t *testing.T, env ...string) *container {
	t.Helper()
	c := &container{calls: &moto.Counter{}, queue: &queue{}}
	awsCfg, err := server.Config(context.Background(), c.calls.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	// Pacing out of the way: no test here is about it, and it would only
	// make each cost the time its calls are spread over.
	vars := map[string]string{"BASELINE_PARAMETER_NAME": fleet.Parameter, "BASELINE_CACHE_TTL": "1h", "SELF_ROLE_ARN": selfRole, "EXEMPT_TAG": "",
		"ECR_READ_TPS": "1000", "ECR_WRITE_TPS": "1000"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := envconfig.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c.app = New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	c.Handler.Continue = c.queue
	return c
}

func (c *container) handle(t *testing.T, payload []byte) []enforcer.Result {
	t.Helper()
	res, err := c.Handler.Handle(context.Background(), payload)
	if err != nil {
		t.Fatalf("Handle %.80s: %v", payload, err)
	}
	if res.Summary != nil && res.Summary.Failed > 0 {
		t.Fatalf("Handle %.80s: %+v", payload, res.Summary)
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
// container, as the first deploy does: without the opt-in the fleet run
// reports what it would change and writes nothing; with it, it writes.
func TestFirstDeploy(t *testing.T) {
	tests := []struct {
		name       string
		env        []string
		wantWrites int
		wantSum    backfill.Summary
	}{
		{name: "without the opt-in: a dry run with a report",
			wantSum: backfill.Summary{Scanned: 2, Tally: enforcer.Tally{WouldApply: 1, Unchanged: 1}, WouldApplyRepositories: []string{"team-a/web"}, Complete: true}},
		{name: "opted in: applied", env: []string{applyToExisting}, wantWrites: 1,
			wantSum: backfill.Summary{Scanned: 2, Tally: enforcer.Tally{Applied: 1, Unchanged: 1}, Complete: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			team := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamA","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`
			compliant, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: "team-b/api"})
			if err != nil {
				t.Fatal(err)
			}
			f := seed(t, fleet.Repo{Name: "team-a/web", Policy: team}, fleet.Repo{Name: "team-b/api", Policy: compliant})
			c := newContainer(t, tt.env...)
			res, err := c.Handler.Handle(context.Background(), samples.Read(t, "parameter-change.json"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.wantSum, res.Summary); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if n := c.calls.Count("SetRepositoryPolicy"); n != tt.wantWrites {
				t.Errorf("wrote %d policies, want %d", n, tt.wantWrites)
			}
			held, err := f.ReadBack(context.Background(), []string{"team-a/web"})
			if err != nil {
				t.Fatal(err)
			}
			if got := held["team-a/web"].Compliant; got != (tt.wantWrites == 1) {
				t.Errorf("team-a/web compliant = %v after the run, holds %s", got, held["team-a/web"].Policy)
			}
		})
	}
}

// TestContinuationInStaleContainer changes the baseline while container B
// holds the old one, runs the change in container A until it is told to
// stop (as its deadline would), and delivers A's continuation to B: B must
// enforce the new baseline on the rest of the fleet, with one GetParameter.
func TestContinuationInStaleContainer(t *testing.T) {
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
	a, b := newContainer(t, "BACKFILL_CONCURRENCY=1", applyToExisting), newContainer(t, applyToExisting)
	b.handle(t, []byte(`{"action":"backfill","dryRun":true}`)) // warm: B caches the old baseline, which every repository holds

	change(t, f, updated)
	// One repository at a time, and A stops once it has read aCovers
	// policies: it covers exactly those and leaves the rest to B.
	const aCovers = 3
	a.Handler.Stop = func() bool { return a.calls.Count("GetRepositoryPolicy") >= aCovers }
	first, err := a.Handler.Handle(context.Background(), samples.Read(t, "parameter-change.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s := first.Summary; s == nil || s.Scanned != aCovers || s.Applied != aCovers || s.Complete {
		t.Fatalf("A's summary %+v; want %d scanned and applied, not complete", s, aCovers)
	}
	if len(a.queue.payloads) != 1 {
		t.Fatalf("A queued %d continuations, want 1", len(a.queue.payloads))
	}
	var next struct {
		BaselineVersion int64 `json:"baselineVersion"`
	}
	if err := json.Unmarshal(a.queue.payloads[0], &next); err != nil || next.BaselineVersion < 2 {
		t.Fatalf("continuation %s: want the new baseline's version", a.queue.payloads[0])
	}

	b.calls.Reset()
	res, err := b.Handler.Handle(context.Background(), a.queue.payloads[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; !s.Complete || s.Applied != size-aCovers || s.Unchanged != 0 {
		t.Errorf("B's summary %+v; want the %d left applied, none unchanged against the old baseline", s, size-aCovers)
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
