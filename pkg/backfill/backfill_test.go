package backfill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

// pagedLister serves names in pages of size, the way ECR pages
// DescribeRepositories: an opaque token names the next page.
type pagedLister struct {
	mu    sync.Mutex
	names []string
	size  int
	calls int
	err   error
	// listed, when set, runs after each page is answered.
	listed func()
}

func (p *pagedLister) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return nil, p.err
	}
	if p.listed != nil {
		defer p.listed()
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscanf(*in.NextToken, "page-%d", &start)
	}
	end := min(start+p.size, len(p.names))
	out := &ecr.DescribeRepositoriesOutput{}
	for _, n := range p.names[start:end] {
		out.Repositories = append(out.Repositories, types.Repository{
			RepositoryName: aws.String(n), RegistryId: aws.String("123456789012"),
			RepositoryArn: aws.String("arn:aws:ecr:us-east-1:123456789012:repository/" + n),
		})
	}
	if end < len(p.names) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", end))
	}
	return out, nil
}

// recorder enforces nothing; it records which repositories it saw and
// fails the ones named in fail.
type recorder struct {
	mu   sync.Mutex
	seen []string
	fail map[string]bool
}

func (r *recorder) Enforce(_ context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, repo.Name)
	if r.fail[repo.Name] {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed, Reason: "set policy: boom"}, errors.New("boom")
	}
	if strings.HasSuffix(repo.Name, "-ok") {
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Unchanged}, nil
	}
	return enforcer.Result{Repository: repo.Name, Action: enforcer.Applied}, nil
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestRunPagesAndCounts(t *testing.T) {
	all := append(names(5, "team-a/svc"), "team-a/db-ok", "team-b/web", "team-a/bad")
	tests := []struct {
		name     string
		prefix   string
		dryRun   bool
		wantSeen int
		want     Summary
	}{
		{name: "everything", wantSeen: 8, want: Summary{Scanned: 8, Tally: enforcer.Tally{Applied: 6, Unchanged: 1, Failed: 1}, Complete: true,
			Failures: []Failure{{Repository: "team-a/bad", Reason: "set policy: boom"}}}},
		{name: "prefix", prefix: "team-b/", wantSeen: 1, want: Summary{Scanned: 1, Tally: enforcer.Tally{Applied: 1}, Complete: true}},
		{name: "dry run uses the dry-run enforcer", dryRun: true, wantSeen: 0, want: Summary{Scanned: 8, Tally: enforcer.Tally{Applied: 6, Unchanged: 1, Failed: 1}, Complete: true,
			Failures: []Failure{{Repository: "team-a/bad", Reason: "set policy: boom"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lister := &pagedLister{names: all, size: 3}
			live := &recorder{fail: map[string]bool{"team-a/bad": true}}
			dry := &recorder{fail: map[string]bool{"team-a/bad": true}}
			r := &Runner{ECR: lister, Enforcer: live, DryRunEnforcer: dry, Region: "us-east-1", Concurrency: 3}
			got, err := r.Run(context.Background(), Options{Prefix: tt.prefix, DryRun: tt.dryRun})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if len(live.seen) != tt.wantSeen {
				t.Errorf("live enforcer saw %d repositories, want %d", len(live.seen), tt.wantSeen)
			}
			if lister.calls != 3 {
				t.Errorf("DescribeRepositories calls = %d, want 3 pages", lister.calls)
			}
		})
	}
}

// TestRunResumesWithoutGapsOrRepeats stops runs early again and again and
// checks that together they enforce every repository exactly once. Each
// run is told to stop once perRun of its repositories have finished: not
// a multiple of the page size, so runs stop inside pages, and with 4
// workers a run starts at most 3 more before it sees the stop.
func TestRunResumesWithoutGapsOrRepeats(t *testing.T) {
	const perRun = 20
	all := names(60, "r")
	lister := &pagedLister{names: all, size: 7}
	rec := &recorder{}
	r := &Runner{ECR: lister, Enforcer: rec, DryRunEnforcer: rec, Concurrency: 4}
	var total Summary
	token, runs := "", 0
	for {
		runs++
		if runs > 1000 {
			t.Fatal("no progress after 1000 runs")
		}
		var finished atomic.Int32
		sum, err := r.Run(context.Background(), Options{Token: token,
			Stop:     func() bool { return finished.Load() >= perRun },
			OnResult: func(enforcer.Result) { finished.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		if !sum.Complete && (sum.Scanned < perRun || sum.Scanned > perRun+3) {
			t.Fatalf("run %d stopped after %d repositories, want %d to %d", runs, sum.Scanned, perRun, perRun+3)
		}
		total.Add(sum)
		if sum.Complete {
			break
		}
		if sum.NextToken == "" {
			t.Fatal("incomplete run without a token")
		}
		token = sum.NextToken
	}
	if runs < len(all)/(perRun+3) {
		t.Errorf("finished in %d runs; each should stop after %d to %d repositories", runs, perRun, perRun+3)
	}
	seen := append([]string(nil), rec.seen...)
	sort.Strings(seen)
	if diff := cmp.Diff(all, seen); diff != "" {
		t.Errorf("enforced repositories across %d runs (-want +got):\n%s", runs, diff)
	}
	if total.Scanned != len(all) || total.Applied != len(all) {
		t.Errorf("summed summary %+v, want %d scanned and applied", total, len(all))
	}
}

func TestRunRealignsShiftedPage(t *testing.T) {
	tests := []struct {
		name string
		// The run stopped after last, offset repositories into page; now
		// the page holds now.
		page   []string
		offset int
		last   string
		now    []string
		want   []string
	}{
		{name: "page unchanged", page: []string{"a1", "a2", "a3", "a4"}, offset: 2, last: "a2",
			now: []string{"a1", "a2", "a3", "a4"}, want: []string{"a3", "a4"}},
		{name: "an earlier repository deleted", page: []string{"a1", "a2", "a3", "a4"}, offset: 2, last: "a2",
			now: []string{"a2", "a3", "a4"}, want: []string{"a3", "a4"}},
		{name: "a repository added before the last one", page: []string{"a1", "a2", "a3", "a4"}, offset: 2, last: "a2",
			now: []string{"a0", "a1", "a2", "a3", "a4"}, want: []string{"a3", "a4"}},
		// The offset alone would resume at a5 and skip a4: the page is
		// done again from its start instead.
		{name: "the last one and one before it deleted", page: []string{"a1", "a2", "a3", "a4", "a5"}, offset: 3, last: "a3",
			now: []string{"a1", "a4", "a5"}, want: []string{"a1", "a4", "a5"}},
		{name: "the last one deleted", page: []string{"a1", "a2", "a3"}, offset: 2, last: "a2",
			now: []string{"a1", "a3"}, want: []string{"a1", "a3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.page[tt.offset-1] != tt.last {
				t.Fatalf("bad case: %s is not at offset %d", tt.last, tt.offset)
			}
			lister := &pagedLister{names: tt.now, size: 10}
			rec := &recorder{}
			r := &Runner{ECR: lister, Enforcer: rec, DryRunEnforcer: rec}
			token := position{Offset: tt.offset, Last: tt.last}.encode()
			sum, err := r.Run(context.Background(), Options{Token: token})
			if err != nil {
				t.Fatal(err)
			}
			if !sum.Complete {
				t.Errorf("resumed run incomplete: %+v", sum)
			}
			sort.Strings(rec.seen) // enforced concurrently, so in any order
			if diff := cmp.Diff(tt.want, rec.seen); diff != "" {
				t.Errorf("resumed with (-want +got):\n%s", diff)
			}
		})
	}
}

// canceller is an enforcer whose cancel is called when the cancelAt-th
// repository starts. With hold, every repository it starts while hold is
// set waits for the cancellation and fails with it, like an AWS call cut
// by Ctrl-C.
type canceller struct {
	recorder
	cancel   context.CancelFunc
	cancelAt int
	hold     bool
	started  int
}

func (c *canceller) Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error) {
	c.mu.Lock()
	c.started++
	if c.started == c.cancelAt {
		c.cancel()
	}
	hold := c.hold
	c.mu.Unlock()
	if hold {
		<-ctx.Done()
		c.mu.Lock()
		c.seen = append(c.seen, repo.Name)
		c.mu.Unlock()
		err := fmt.Errorf("get policy: %w", ctx.Err())
		return enforcer.Result{Repository: repo.Name, Action: enforcer.Failed, Reason: err.Error()}, err
	}
	return c.recorder.Enforce(ctx, repo)
}

// TestRunStopsOnCancel cancels a run (Ctrl-C) part way and resumes it
// from its token.
func TestRunStopsOnCancel(t *testing.T) {
	const concurrency = 4
	tests := []struct {
		name     string
		pageSize int
		cancelAt int
		hold     bool
		// wantFailed is how many repositories the cancellation cut, and
		// wantRepeat how many of them the resumed run does again.
		wantFailed int
	}{
		{name: "one page", pageSize: 100, cancelAt: 6},
		{name: "several pages", pageSize: 7, cancelAt: 10},
		{name: "in-flight calls cut", pageSize: 100, cancelAt: concurrency, hold: true, wantFailed: concurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := names(20, "r")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			enf := &canceller{cancel: cancel, cancelAt: tt.cancelAt, hold: tt.hold}
			r := &Runner{ECR: &pagedLister{names: all, size: tt.pageSize}, Enforcer: enf, DryRunEnforcer: enf, Concurrency: concurrency}
			sum, err := r.Run(ctx, Options{})
			if err != nil {
				t.Fatal(err)
			}
			first := len(enf.seen)
			// Those started before the loop saw the cancellation: at most
			// one per other worker.
			if first < tt.cancelAt || first > tt.cancelAt+concurrency-1 {
				t.Errorf("the cancelled run enforced %d repositories, want %d to %d", first, tt.cancelAt, tt.cancelAt+concurrency-1)
			}
			if sum.Complete || sum.NextToken == "" || sum.Scanned != first || sum.Failed != tt.wantFailed {
				t.Errorf("cancelled run summary %+v: want incomplete with a token, %d scanned, %d failed", sum, first, tt.wantFailed)
			}
			for _, f := range sum.Failures {
				if f.Reason != "get policy: context canceled" {
					t.Errorf("failure %+v, want the cancellation as its reason", f)
				}
			}

			enf.hold = false
			rest, err := r.Run(context.Background(), Options{Token: sum.NextToken})
			if err != nil {
				t.Fatal(err)
			}
			if !rest.Complete || rest.Failed != 0 {
				t.Errorf("resumed run summary %+v, want complete without failures", rest)
			}
			// Together the runs enforce every repository; only the ones the
			// cancellation cut are done twice.
			seen := map[string]int{}
			for _, n := range enf.seen {
				seen[n]++
			}
			twice := 0
			for _, n := range all {
				switch seen[n] {
				case 0:
					t.Errorf("%s was never enforced", n)
				case 2:
					twice++
				case 1:
				default:
					t.Errorf("%s was enforced %d times", n, seen[n])
				}
			}
			if twice != tt.wantFailed {
				t.Errorf("%d repositories enforced twice, want the %d the cancellation cut", twice, tt.wantFailed)
			}
		})
	}
}

// cancellingLister cancels the run the first time it is asked for its
// second page.
type cancellingLister struct {
	pagedLister
	cancel context.CancelFunc
}

func (c *cancellingLister) DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	if in.NextToken != nil && c.cancel != nil {
		c.cancel()
		c.cancel = nil
		return nil, fmt.Errorf("operation error ECR: DescribeRepositories: %w", ctx.Err())
	}
	return c.pagedLister.DescribeRepositories(ctx, in, opts...)
}

func TestRunCancelledWhileListing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lister := &cancellingLister{pagedLister: pagedLister{names: names(10, "r"), size: 4}, cancel: cancel}
	rec := &recorder{}
	r := &Runner{ECR: lister, Enforcer: rec, DryRunEnforcer: rec}
	sum, err := r.Run(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Complete || sum.Scanned != 4 || sum.NextToken == "" {
		t.Fatalf("summary %+v, want the first page's 4 and a token", sum)
	}
	rest, err := r.Run(context.Background(), Options{Token: sum.NextToken})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rec.seen)
	if diff := cmp.Diff(names(10, "r"), rec.seen); diff != "" || !rest.Complete {
		t.Errorf("enforced over both runs (-want +got):\n%s\nresumed run %+v", diff, rest)
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name       string
		lister     *pagedLister
		opts       Options
		timeout    time.Duration
		wantErr    string
		wantPrefix bool
		wantIs     error
		cancelled  bool
	}{
		{name: "garbage token", lister: &pagedLister{}, opts: Options{Token: "not-a-token!"},
			wantErr: `invalid continuation token: "not-a-token!"`, wantIs: ErrBadToken},
		{name: "token for another prefix", lister: &pagedLister{}, opts: Options{Token: position{Prefix: "a/"}.encode(), Prefix: "b/"},
			wantErr: `invalid continuation token: it was made for prefix "a/", not "b/"`, wantIs: ErrBadToken},
		{name: "listing fails", lister: &pagedLister{err: errors.New("AccessDeniedException")},
			wantErr: "backfill: describe repositories: AccessDeniedException"},
		{name: "cancelled before it starts", lister: &pagedLister{names: []string{"a"}, size: 1}, cancelled: true,
			wantErr: "backfill: context canceled", wantIs: context.Canceled},
		{name: "told to stop before it starts", lister: &pagedLister{names: []string{"a"}}, opts: Options{Stop: func() bool { return true }},
			wantErr: "backfill: no time to enforce any repository: ", wantPrefix: true, wantIs: ErrNoTime},
		// Without Stop the deadline decides: a second away against a
		// minute's margin, which no clock reading during the test changes.
		{name: "started inside the stop margin", lister: &pagedLister{names: []string{"a"}}, opts: Options{StopBefore: time.Minute},
			timeout: time.Second, wantErr: "backfill: no time to enforce any repository: ", wantPrefix: true, wantIs: ErrNoTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{ECR: tt.lister, Enforcer: &recorder{}, DryRunEnforcer: &recorder{}}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			if tt.cancelled {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			_, err := r.Run(ctx, tt.opts)
			if tt.wantPrefix {
				if !errors.Is(err, tt.wantIs) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q...", err, tt.wantErr)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
		})
	}
}

// TestRunStoppedBeforeAnyRepositoryForgetsTheName stops a run between
// listing a page and starting its first repository, after the token's last
// repository was deleted: the new token must not name it, or a repository
// recreated under that name would send the next run past the ones before
// it, which were never done.
func TestRunStoppedBeforeAnyRepositoryForgetsTheName(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lister := &pagedLister{names: []string{"a1", "a3"}, size: 10, listed: cancel}
	rec := &recorder{}
	r := &Runner{ECR: lister, Enforcer: rec, DryRunEnforcer: rec}
	sum, err := r.Run(ctx, Options{Token: position{Offset: 2, Last: "a2"}.encode()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Complete || len(rec.seen) != 0 {
		t.Fatalf("summary %+v after %v; want it stopped before any repository", sum, rec.seen)
	}
	// a2 is created again; the resumed run must still do a1.
	lister.names, lister.listed = []string{"a1", "a2", "a3"}, nil
	if _, err := r.Run(context.Background(), Options{Token: sum.NextToken}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(rec.seen)
	if diff := cmp.Diff([]string{"a1", "a2", "a3"}, rec.seen); diff != "" {
		t.Errorf("resumed run enforced (-want +got):\n%s", diff)
	}
}
