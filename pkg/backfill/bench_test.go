package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}

// The benchmarks' proxy adds benchLatency to every call and pages
// DescribeRepositories as ECR does; a limited operation tolerates a
// second's worth of burst, as a server-side token bucket does.
var benchLatency = time.Duration(envInt("BENCH_LATENCY_MS", 20)) * time.Millisecond

// limit is a proxy rule that accepts tps calls per second per target.
func limit(tps float64) faultproxy.Rule {
	return faultproxy.Rule{Latency: benchLatency, RateLimit: tps, Burst: int(tps)}
}

// benchProxy starts a proxy in front of moto with rules, paging
// DescribeRepositories by ECR's largest page and delaying every other
// operation by benchLatency.
func benchProxy(b *testing.B, rules map[string]faultproxy.Rule) *faultproxy.Proxy {
	b.Helper()
	if _, ok := rules["*"]; !ok {
		rules["*"] = faultproxy.Rule{Latency: benchLatency}
	}
	page := rules["*"]
	page.PageSize = 1000
	rules["DescribeRepositories"] = page
	proxy, err := faultproxy.Start(server.URL, rules, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { proxy.Close() })
	return proxy
}

// benchSeed creates repos in region, straight in moto.
func benchSeed(b *testing.B, region string, repos []fleet.Repo) {
	b.Helper()
	ctx := context.Background()
	direct, err := server.Config(ctx)
	if err != nil {
		b.Fatal(err)
	}
	direct.Region = region
	start := time.Now()
	if err := fleet.New(direct, policies.Baseline).Seed(ctx, repos...); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d repositories in %s in %s", len(repos), region, time.Since(start).Round(time.Second))
}

// fleetOf names n repositories under prefix, each starting with the
// policy start gives it ("" for none).
func fleetOf(prefix string, n int, start func(i int, name string) string) []fleet.Repo {
	repos := make([]fleet.Repo, n)
	for i := range repos {
		repos[i].Name = fmt.Sprintf("%s/r%05d", prefix, i)
		repos[i].Policy = start(i, repos[i].Name)
	}
	return repos
}

func noPolicy(int, string) string { return "" }

// compliant starts every repository with the baseline rendered for it.
func compliant(b *testing.B) func(int, string) string {
	f := fleet.New(aws.Config{}, policies.Baseline)
	return func(_ int, name string) string {
		text, err := f.Rendered(name)
		if err != nil {
			b.Fatal(err)
		}
		return text
	}
}

// mixed starts a third without a policy, a third compliant and a third
// with another policy.
func mixed(b *testing.B) func(int, string) string {
	rendered := compliant(b)
	return func(i int, name string) string {
		return [...]string{"", rendered(i, name), foreign}[i%3]
	}
}

// viaProxy is an SDK configuration for region whose calls go through p.
func viaProxy(b *testing.B, p *faultproxy.Proxy, region string) aws.Config {
	b.Helper()
	cfg, err := moto.Config(context.Background(), p.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Region = region
	return cfg
}

// timedRun runs r once and checks every repository was applied or
// unchanged.
func timedRun(b *testing.B, r *backfill.Runner, n int) (backfill.Summary, time.Duration) {
	b.Helper()
	start := time.Now()
	sum, err := r.Run(context.Background(), backfill.Options{})
	wall := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if sum.Applied+sum.Unchanged != n || sum.Failed != 0 {
		b.Fatalf("summary %+v, want all %d applied or unchanged", sum, n)
	}
	return sum, wall
}

// runner is a backfill with the settings a user gets by setting nothing:
// the client is never told the proxy's limits.
func runner(awsCfg aws.Config) *backfill.Runner {
	return app.New(envconfig.Defaults(), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil))).Backfill
}

// once fails a benchmark run with -benchtime other than 1x: the first
// iteration makes every repository compliant.
func once(b *testing.B, run func()) {
	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.Fatal("the first iteration made every repository compliant; run with -benchtime 1x")
		}
		run()
	}
}

// BenchmarkBackfill backfills fleets through a proxy in front of moto that
// adds BENCH_LATENCY_MS (20) to every call, with the function's defaults:
// the client is never told the proxy's limits. Each case prints its wall
// time and, where the proxy limits a rate, the bound no client can beat
// and their ratio. Run it with `make bench`.
func BenchmarkBackfill(b *testing.B) {
	b.Run("writes-limited", benchWritesLimited)
	b.Run("reads-limited", benchReadsLimited)
	b.Run("three-targets", benchThreeTargets)
	b.Run("mixed-500", benchMixed)
}

// report prints and reports a run against a rate limit: the wall time,
// the bound calls/tps no client can beat, their ratio, and the share of
// the limited operation's calls the proxy throttled.
func report(b *testing.B, what string, wall time.Duration, calls int, tps float64, st faultproxy.Stats) {
	bound := time.Duration(float64(calls) / tps * float64(time.Second))
	ratio := wall.Seconds() / bound.Seconds()
	throttled := float64(st.Throttled) / float64(max(st.Calls, 1))
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(bound.Seconds(), "bound-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(throttled*100, "throttled-%")
	fmt.Printf("%s: wall %s, bound %d calls / %v per s = %s, ratio %.3f, throttled %d of %d calls (%.2f%%); goal: ratio at most 1.15, at most 2%% throttled\n",
		what, wall.Round(time.Millisecond), calls, tps, bound, ratio, st.Throttled, st.Calls, throttled*100)
}

// benchWritesLimited: BENCH_REPOS (5000) repositories without a policy,
// SetRepositoryPolicy limited to 20 per second at the proxy.
func benchWritesLimited(b *testing.B) {
	const tps = 20
	n := envInt("BENCH_REPOS", 5000)
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	benchSeed(b, moto.Region, fleetOf("none", n, noPolicy))
	proxy := benchProxy(b, map[string]faultproxy.Rule{"SetRepositoryPolicy": limit(tps)})
	r := runner(viaProxy(b, proxy, moto.Region))
	once(b, func() {
		sum, wall := timedRun(b, r, n)
		sets := proxy.Stats("SetRepositoryPolicy")
		if sets.Calls < sum.Applied {
			b.Fatalf("the proxy saw %d SetRepositoryPolicy calls for %d writes: the client bypassed it", sets.Calls, sum.Applied)
		}
		report(b, fmt.Sprintf("(a) %d repositories without a policy, writes limited to %d/s", n, tps), wall, sum.Applied, tps, sets)
	})
}

// benchReadsLimited: BENCH_REPOS (5000) compliant repositories, reads
// limited to 50 per second at the proxy (DescribeRepositories on a limit
// of its own); the writes' own rule keeps them out of that limit.
func benchReadsLimited(b *testing.B) {
	const tps = 50
	n := envInt("BENCH_REPOS", 5000)
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	benchSeed(b, moto.Region, fleetOf("compliant", n, compliant(b)))
	proxy := benchProxy(b, map[string]faultproxy.Rule{"*": limit(tps), "SetRepositoryPolicy": {Latency: benchLatency}})
	r := runner(viaProxy(b, proxy, moto.Region))
	once(b, func() {
		sum, wall := timedRun(b, r, n)
		if sum.Unchanged != n {
			b.Fatalf("summary %+v, want all %d unchanged", sum, n)
		}
		report(b, fmt.Sprintf("(b) %d compliant repositories, reads limited to %d/s", n, tps), wall, n, tps, proxy.Stats("GetRepositoryPolicy"))
	})
}

// benchThreeTargets: BENCH_TARGET_REPOS (2000) repositories without a
// policy in each of three regions, swept at once, each region's
// SetRepositoryPolicy limited to 20 per second at the proxy: one target's
// throttling must not slow the others, so the three take as long as one.
func benchThreeTargets(b *testing.B) {
	const tps = 20
	n := envInt("BENCH_TARGET_REPOS", 2000)
	regions := []string{moto.Region, "eu-west-1", "ap-southeast-2"}
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	for _, region := range regions {
		benchSeed(b, region, fleetOf("none", n, noPolicy))
	}
	proxy := benchProxy(b, map[string]faultproxy.Rule{"SetRepositoryPolicy": limit(tps)})
	runners := make([]*backfill.Runner, len(regions))
	for i, region := range regions {
		runners[i] = runner(viaProxy(b, proxy, region))
	}
	once(b, func() {
		start := time.Now()
		var wg sync.WaitGroup
		sums := make([]backfill.Summary, len(regions))
		errs := make([]error, len(regions))
		for i, r := range runners {
			wg.Go(func() { sums[i], errs[i] = r.Run(context.Background(), backfill.Options{}) })
		}
		wg.Wait()
		wall := time.Since(start)
		for i, sum := range sums {
			if errs[i] != nil || sum.Applied != n || sum.Failed != 0 {
				b.Fatalf("%s: summary %+v, error %v; want all %d applied", regions[i], sum, errs[i], n)
			}
		}
		report(b, fmt.Sprintf("(c) %d repositories without a policy in each of %d regions at once, writes limited to %d/s in each", n, len(regions), tps),
			wall, n, tps, proxy.Stats("SetRepositoryPolicy"))
	})
}

// benchMixed: 500 repositories, a third without a policy, a third
// compliant, a third different, no limit at the proxy: how fast the
// defaults go when nothing throttles.
func benchMixed(b *testing.B) {
	const n = 500
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	benchSeed(b, moto.Region, fleetOf("mixed", n, mixed(b)))
	proxy := benchProxy(b, map[string]faultproxy.Rule{})
	r := runner(viaProxy(b, proxy, moto.Region))
	once(b, func() {
		sum, wall := timedRun(b, r, n)
		b.ReportMetric(wall.Seconds(), "wall-s")
		fmt.Printf("mixed fleet of %d repositories with the defaults, %s per call, no limit: wall %s (%d applied, %d unchanged; %d GetRepositoryPolicy, %d SetRepositoryPolicy calls); goal: at most 5s\n",
			n, benchLatency, wall.Round(time.Millisecond), sum.Applied, sum.Unchanged,
			proxy.Stats("GetRepositoryPolicy").Calls, proxy.Stats("SetRepositoryPolicy").Calls)
	})
}
