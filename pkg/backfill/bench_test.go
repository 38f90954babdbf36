package backfill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

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

// BenchmarkBackfillRateLimited backfills BENCH_REPOS repositories (default
// 5000) without a policy through a proxy that adds BENCH_LATENCY_MS (20) to
// every call and answers SetRepositoryPolicy above BENCH_TPS (20) per
// second with ThrottlingException. It reports the wall time, the bound
// N/TPS no client can beat, their ratio, and the fraction of
// SetRepositoryPolicy calls that were throttled. Run it with
// `make bench`; it takes about N/TPS seconds plus seeding.
func BenchmarkBackfillRateLimited(b *testing.B) {
	n := envInt("BENCH_REPOS", 5000)
	tps := float64(envInt("BENCH_TPS", 20))
	latency := time.Duration(envInt("BENCH_LATENCY_MS", 20)) * time.Millisecond
	ctx := context.Background()

	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	direct, err := server.Config(ctx)
	if err != nil {
		b.Fatal(err)
	}
	repos := make([]fleet.Repo, n)
	for i := range repos {
		repos[i].Name = fmt.Sprintf("bench/r%05d", i)
	}
	seedStart := time.Now()
	if err := fleet.New(direct, policies.Baseline).Seed(ctx, repos...); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d repositories in %s", n, time.Since(seedStart).Round(time.Second))

	proxy, err := faultproxy.Start(server.URL, map[string]faultproxy.Rule{
		"*": {Latency: latency},
		// A server-side limit tolerates a second's worth of burst.
		"SetRepositoryPolicy": {Latency: latency, RateLimit: tps, Burst: int(tps)},
	}, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	viaProxy, err := moto.Config(ctx, proxy.URL)
	if err != nil {
		b.Fatal(err)
	}
	// Pace writes 2.5% under the limit: even spacing absorbs jitter, and
	// the margin costs 2.5% of the bound.
	cfg := envconfig.Config{ParameterName: fleet.Parameter, CacheTTL: time.Hour, Mode: "replace",
		ReadTPS: 4 * tps, WriteTPS: tps * 0.975, Concurrency: 8}
	runner := app.New(cfg, viaProxy, slog.New(slog.NewJSONHandler(io.Discard, nil))).Backfill

	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.Fatal("the first iteration made every repository compliant; run with -benchtime 1x")
		}
		proxy.ResetStats()
		start := time.Now()
		sum, err := runner.Run(ctx, backfill.Options{})
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Applied+sum.Unchanged != n || sum.Failed != 0 {
			b.Fatalf("summary %+v, want all %d applied or unchanged", sum, n)
		}
		sets := proxy.Stats("SetRepositoryPolicy")
		if sets.Calls < sum.Applied {
			b.Fatalf("the proxy saw %d SetRepositoryPolicy calls for %d writes: the client bypassed it", sets.Calls, sum.Applied)
		}
		bound := time.Duration(float64(sum.Applied) / tps * float64(time.Second))
		ratio := wall.Seconds() / bound.Seconds()
		throttled := float64(sets.Throttled) / float64(max(sets.Calls, 1))
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(throttled*100, "throttled-%")
		fmt.Printf("backfill of %d repositories (%d writes): wall %s, bound N/TPS %s, ratio %.3f, throttled %d of %d SetRepositoryPolicy calls (%.2f%%)\n",
			n, sum.Applied, wall.Round(time.Millisecond), bound, ratio, sets.Throttled, sets.Calls, throttled*100)
	}
}
