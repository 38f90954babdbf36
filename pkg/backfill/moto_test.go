package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const foreign = `{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`

// fleet is the mix every test starts from: 100 repositories without a
// policy, 100 already compliant, 100 with a different policy, and 20 under
// another prefix without a policy.
type fleet struct {
	ecr     *ecr.Client
	counter *moto.Counter
	cfg     aws.Config
}

func seed(t *testing.T) *fleet {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	f := &fleet{counter: &moto.Counter{}}
	var err error
	if f.cfg, err = server.Config(ctx, f.counter.Middleware); err != nil {
		t.Fatal(err)
	}
	f.ecr = ecr.NewFromConfig(f.cfg)
	if _, err := ssm.NewFromConfig(f.cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/baseline-policy"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	type repo struct{ name, policy string }
	var repos []repo
	for i := range 100 {
		name := fmt.Sprintf("fleet/ok-%03d", i)
		compliant, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: name})
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos,
			repo{fmt.Sprintf("fleet/none-%03d", i), ""},
			repo{name, compliant},
			repo{fmt.Sprintf("fleet/other-%03d", i), foreign})
	}
	for i := range 20 {
		repos = append(repos, repo{fmt.Sprintf("team-x/svc-%02d", i), ""})
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(repos))
	sem := make(chan struct{}, 8)
	for _, r := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := f.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(r.name)}); err != nil {
				errs <- err
				return
			}
			if r.policy != "" {
				if _, err := f.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(r.name), PolicyText: aws.String(r.policy)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.counter.Reset()
	return f
}

func (f *fleet) runner() *backfill.Runner {
	cfg := envconfig.Config{ParameterName: "/ecr-baseline/baseline-policy", CacheTTL: time.Minute, ReadTPS: 1000, WriteTPS: 1000, Concurrency: 8}
	return app.New(cfg, f.cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Backfill
}

// compliantCount reads every repository's policy back and counts those
// equal to the baseline.
func (f *fleet) compliantCount(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	out, err := f.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Repositories {
		name := aws.ToString(r.RepositoryName)
		got, err := f.ecr.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
		if err != nil {
			continue
		}
		want, _ := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: name})
		a, _ := policy.Parse(aws.ToString(got.PolicyText))
		b, _ := policy.Parse(want)
		if policy.Equal(a, b) {
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
		// what is left before StopBefore fits a few dozen repositories.
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		sum, err := r.Run(rctx, backfill.Options{Token: token, StopBefore: time.Second})
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
