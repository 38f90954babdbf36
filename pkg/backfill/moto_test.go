package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const foreign = `{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`

// seeded is the mix the test starts from: 100 repositories without a
// policy, 100 already compliant, 100 with a different policy, and 20 under
// another prefix without a policy.
type seeded struct {
	*fleet.Fleet
	counter *moto.Counter
	cfg     aws.Config
	names   []string
}

func seed(t *testing.T) *seeded {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	s := &seeded{counter: &moto.Counter{}}
	var err error
	if s.cfg, err = server.Config(ctx, s.counter.Middleware); err != nil {
		t.Fatal(err)
	}
	s.Fleet = fleet.New(s.cfg, policies.Baseline)
	var repos []fleet.Repo
	for i := range 100 {
		ok := fmt.Sprintf("fleet/ok-%03d", i)
		compliant, err := s.Rendered(ok)
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos,
			fleet.Repo{Name: fmt.Sprintf("fleet/none-%03d", i)},
			fleet.Repo{Name: ok, Policy: compliant},
			fleet.Repo{Name: fmt.Sprintf("fleet/other-%03d", i), Policy: foreign})
	}
	for i := range 20 {
		repos = append(repos, fleet.Repo{Name: fmt.Sprintf("team-x/svc-%02d", i)})
	}
	if err := s.Seed(ctx, repos...); err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		s.names = append(s.names, r.Name)
	}
	s.counter.Reset()
	return s
}

func (s *seeded) runner() *backfill.Runner {
	cfg := envconfig.Config{ParameterName: fleet.Parameter, CacheTTL: time.Minute, Concurrency: 8,
		Mode: "replace", ExemptTagKey: "ecr-baseline:exempt", ExemptTagValue: "true"}
	return app.New(cfg, s.cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Backfill
}

// compliantCount reads every repository's policy back from moto and
// counts those that mean the same as the baseline.
func (s *seeded) compliantCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, name := range s.names {
		ok, err := s.Compliant(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			n++
		}
	}
	return n
}

// TestBackfillOnMoto seeds one fleet of 320 repositories (moto answers in
// tens of milliseconds per call, so seeding is the slow part) and runs
// backfill on it in the order an operator would.
func TestBackfillOnMoto(t *testing.T) {
	ctx := context.Background()
	f := seed(t)
	r := f.runner()

	// 1. Dry run: reports the 220 non-compliant repositories, writes nothing.
	dry, err := r.Run(ctx, backfill.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// Workers finish in any order; the report names each one once.
	listed := dry.WouldApplyRepositories
	dry.WouldApplyRepositories = nil
	if diff := cmp.Diff(backfill.Summary{Scanned: 320, Tally: enforcer.Tally{WouldApply: 220, Unchanged: 100}, Complete: true}, dry); diff != "" {
		t.Errorf("dry run summary (-want +got):\n%s", diff)
	}
	slices.Sort(listed)
	if n := len(slices.Compact(listed)); n != 220 || !slices.ContainsFunc(listed, func(s string) bool { return s == "fleet/none-000" }) {
		t.Errorf("dry run report names %d distinct repositories (fleet/none-000 among them: %v), want the 220 it would write", n, slices.Contains(listed, "fleet/none-000"))
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 0 {
		t.Errorf("dry run wrote %d policies", n)
	}

	// 2. A prefix limits the scope to team-x/.
	f.counter.Reset()
	pre, err := r.Run(ctx, backfill.Options{Prefix: "team-x/"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(backfill.Summary{Scanned: 20, Tally: enforcer.Tally{Applied: 20}, Complete: true}, pre); diff != "" {
		t.Errorf("prefix run summary (-want +got):\n%s", diff)
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 20 {
		t.Errorf("prefix run wrote %d policies, want the 20 under team-x/", n)
	}

	// 3. The full run through a proxy that pages DescribeRepositories by
	// 25, as ECR would and moto does not, told to stop long before it is
	// done each time and resumed from its token: together the runs read
	// every repository once and write exactly the 200 still non-compliant
	// ones.
	p, paged := f.pagedRunner(t)
	f.counter.Reset()
	total, runs := resume(t, paged, nil, nil)
	t.Logf("full run finished in %d resumed runs", runs)
	if runs < 320/(perRun+7) {
		t.Errorf("finished in %d runs; each run should stop after %d to %d repositories", runs, perRun, perRun+7)
	}
	if n := p.Stats("DescribeRepositories").Calls; n < 320/25 {
		t.Errorf("%d DescribeRepositories calls, want at least one per page of 25", n)
	}
	if diff := cmp.Diff(backfill.Summary{Scanned: 320, Tally: enforcer.Tally{Applied: 200, Unchanged: 120}, Complete: true}, total); diff != "" {
		t.Errorf("summed over %d runs (-want +got):\n%s", runs, diff)
	}
	if n := f.counter.Count("GetRepositoryPolicy"); n != 320 {
		t.Errorf("%d policy reads over %d runs, want 320: a gap or a repeat", n, runs)
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 200 {
		t.Errorf("%d policy writes over %d runs, want 200", n, runs)
	}
	if n := f.compliantCount(t); n != 320 {
		t.Errorf("%d of 320 repositories hold the baseline", n)
	}

	// 4. Run again, resumed the same way, and after the first run that
	// stops inside a page past the first, delete three repositories it
	// already did: one on an earlier page, the one before the token's Last
	// and Last itself. No survivor is left out; the page restarts, so the
	// ones on it before the deleted pair are read a second time; nothing
	// is written.
	f.counter.Reset()
	sorted := slices.Sorted(slices.Values(f.names))
	reads := map[string]int{}
	var mu sync.Mutex
	count := func(r enforcer.Result) { mu.Lock(); reads[r.Repository]++; mu.Unlock() }
	var deleted, repeated []string
	again, runs := resume(t, paged, count, func(token string) {
		if deleted != nil {
			return
		}
		pageToken, offset, last, err := backfill.TokenPosition(token)
		if err != nil {
			t.Fatal(err)
		}
		if pageToken == "" || offset < 2 {
			return
		}
		i := slices.Index(sorted, last)
		deleted = []string{sorted[0], sorted[i-1], last}
		repeated = sorted[i-offset+1 : i-1]
		for _, name := range deleted {
			if _, err := f.ECR.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if deleted == nil {
		t.Fatalf("none of %d runs stopped inside a page past the first", runs)
	}
	t.Logf("second run finished in %d resumed runs; deleted %v; the page restarted with %d repositories done again", runs, deleted, len(repeated))
	for _, name := range sorted {
		want := 1
		switch {
		case slices.Contains(repeated, name):
			want = 2
		case slices.Contains(deleted, name):
			want = reads[name] // read before it was deleted, or not at all
		}
		if reads[name] != want {
			t.Errorf("%s read %d times, want %d", name, reads[name], want)
		}
	}
	scanned := 320 + len(repeated)
	if diff := cmp.Diff(backfill.Summary{Scanned: scanned, Tally: enforcer.Tally{Unchanged: scanned}, Complete: true}, again); diff != "" {
		t.Errorf("second full run over %d runs (-want +got):\n%s", runs, diff)
	}
	if n := f.counter.Count("GetRepositoryPolicy"); n != scanned {
		t.Errorf("%d policy reads, want %d", n, scanned)
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 0 {
		t.Errorf("second run wrote %d policies, want zero", n)
	}
}

// pagedRunner is a runner whose calls go through a proxy that pages
// DescribeRepositories by 25, as ECR would and moto does not.
func (s *seeded) pagedRunner(t *testing.T) (*faultproxy.Proxy, *backfill.Runner) {
	t.Helper()
	p, err := faultproxy.Start(server.URL, map[string]faultproxy.Rule{"DescribeRepositories": {PageSize: 25}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg, err := moto.Config(context.Background(), p.URL, s.counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	ecfg := envconfig.Config{ParameterName: fleet.Parameter, CacheTTL: time.Minute, Concurrency: 8,
		Mode: "replace", ExemptTagKey: "ecr-baseline:exempt", ExemptTagValue: "true"}
	return p, app.New(ecfg, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Backfill
}

// perRun is how many finished repositories make a resumed run stop. It is
// not a multiple of the page size, so runs stop inside pages; with 8
// workers a run starts at most 7 more before it sees the stop.
const perRun = 37

// resume runs r from the start until a run completes, each run told to
// stop once perRun of its repositories have finished, resuming from the
// previous token; onResult, when set, sees every result, and between every
// token before it is resumed. It returns the runs' summed summary and how
// many runs it took.
func resume(t *testing.T, r *backfill.Runner, onResult func(enforcer.Result), between func(token string)) (backfill.Summary, int) {
	t.Helper()
	var total backfill.Summary
	token := ""
	for runs := 1; ; runs++ {
		var finished atomic.Int32
		sum, err := r.Run(context.Background(), backfill.Options{
			Token: token,
			Stop:  func() bool { return finished.Load() >= perRun },
			OnResult: func(res enforcer.Result) {
				finished.Add(1)
				if onResult != nil {
					onResult(res)
				}
			},
		})
		if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		total.Add(sum)
		if sum.Complete {
			return total, runs
		}
		if sum.Scanned < perRun {
			t.Fatalf("run %d stopped after %d repositories, before it was told to (%d)", runs, sum.Scanned, perRun)
		}
		token = sum.NextToken
		if between != nil {
			between(token)
		}
	}
}
