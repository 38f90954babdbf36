package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
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
	cfg := envconfig.Config{ParameterName: fleet.Parameter, CacheTTL: time.Minute, ReadTPS: 1000, WriteTPS: 1000, Concurrency: 8,
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
	if diff := cmp.Diff(backfill.Summary{Scanned: 320, WouldApply: 220, Unchanged: 100, Complete: true}, dry); diff != "" {
		t.Errorf("dry run summary (-want +got):\n%s", diff)
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
	if diff := cmp.Diff(backfill.Summary{Scanned: 20, Applied: 20, Complete: true}, pre); diff != "" {
		t.Errorf("prefix run summary (-want +got):\n%s", diff)
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 20 {
		t.Errorf("prefix run wrote %d policies, want the 20 under team-x/", n)
	}

	// 3. The full run, forced to stop long before it is done each time and
	// resumed from its token: together the runs read every repository once
	// and write exactly the 200 still non-compliant ones.
	f.counter.Reset()
	var total backfill.Summary
	token, runs := "", 0
	for {
		runs++
		if runs > 200 {
			t.Fatal("no progress after 200 runs")
		}
		// Listing 320 repositories from moto takes about half a second;
		// the 2 s left before StopBefore fit a few dozen repositories, and
		// the 4 s margin lets those in flight finish even on a loaded
		// machine (a call cut by the deadline would count as a failure).
		rctx, cancel := context.WithTimeout(ctx, 6*time.Second)
		sum, err := r.Run(rctx, backfill.Options{Token: token, StopBefore: 4 * time.Second})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		total.Add(sum)
		if sum.Complete {
			break
		}
		token = sum.NextToken
	}
	t.Logf("full run finished in %d resumed runs", runs)
	if runs < 2 {
		t.Errorf("finished in one run; the deadline did not stop it early")
	}
	if diff := cmp.Diff(backfill.Summary{Scanned: 320, Applied: 200, Unchanged: 120, Complete: true}, total); diff != "" {
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

	// 4. Run again: nothing to do, zero writes.
	f.counter.Reset()
	again, err := r.Run(ctx, backfill.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(backfill.Summary{Scanned: 320, Unchanged: 320, Complete: true}, again); diff != "" {
		t.Errorf("second run summary (-want +got):\n%s", diff)
	}
	if n := f.counter.Count("SetRepositoryPolicy"); n != 0 {
		t.Errorf("second run wrote %d policies, want zero", n)
	}
}
