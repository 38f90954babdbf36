// Package cli is the local command line: the same backfill engine as the
// Lambda, run with local credentials (or AWS_ENDPOINT_URL) and reported as
// a table an operator can read.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // some repositories failed
	ExitUsage  = 2 // bad flags or configuration, nothing ran
	// ExitIncomplete: interrupted (Ctrl-C) before every repository was
	// handled; the printed token resumes the run.
	ExitIncomplete = 3
)

const usage = `usage: ecr-baseline backfill [flags]

Enforces the baseline on every repository of the account and region the
AWS configuration selects, and prints what changed.

flags:
`

// Run executes the command line args (without the program name) and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	if len(args) == 0 || args[0] != "backfill" {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	cfg, err := envconfig.Load(func(k string) (string, bool) {
		if k == "BASELINE_PARAMETER_NAME" {
			if v, ok := lookup(k); ok && v != "" {
				return v, true
			}
			return "/ecr-baseline/baseline-policy", true
		}
		return lookup(k)
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	dryRun := fs.Bool("dry-run", false, "report what would change, write nothing")
	prefix := fs.String("prefix", "", "only repositories whose name starts with this")
	token := fs.String("token", "", "resume an interrupted run from the token it printed (same --prefix)")
	fs.StringVar(&cfg.ParameterName, "parameter", cfg.ParameterName, "SSM parameter holding the baseline (env BASELINE_PARAMETER_NAME)")
	fs.Float64Var(&cfg.ReadTPS, "read-tps", cfg.ReadTPS, "ECR reads per second (env ECR_READ_TPS)")
	fs.Float64Var(&cfg.WriteTPS, "write-tps", cfg.WriteTPS, "ECR writes per second (env ECR_WRITE_TPS)")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "repositories enforced at once (env BACKFILL_CONCURRENCY)")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "replace or merge (env ENFORCEMENT_MODE)")
	fs.BoolVar(&cfg.Force, "force", cfg.Force, "apply a baseline that fails the lock-out guard (env FORCE)")
	tagDefault := ""
	if cfg.ExemptTagKey != "" {
		tagDefault = cfg.ExemptTagKey + "=" + cfg.ExemptTagValue
	}
	exemptTag := fs.String("exempt-tag", tagDefault, "key=value tag that exempts a repository, empty for none (env EXEMPT_TAG)")
	exempt := fs.String("exempt", strings.Join(cfg.ExemptGlobs, ","), "comma-separated name patterns to exempt (env EXEMPT_REPOSITORIES)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args[1:]); err != nil {
		return ExitUsage
	}
	// The flags go back through envconfig so they are checked exactly as
	// the function checks its environment.
	cfg, err = envconfig.Load(func(k string) (string, bool) {
		switch k {
		case "BASELINE_PARAMETER_NAME":
			return cfg.ParameterName, true
		case "ECR_READ_TPS":
			return strconv.FormatFloat(cfg.ReadTPS, 'g', -1, 64), true
		case "ECR_WRITE_TPS":
			return strconv.FormatFloat(cfg.WriteTPS, 'g', -1, 64), true
		case "BACKFILL_CONCURRENCY":
			return strconv.Itoa(cfg.Concurrency), true
		case "ENFORCEMENT_MODE":
			return cfg.Mode, true
		case "FORCE":
			return strconv.FormatBool(cfg.Force), true
		case "EXEMPT_TAG":
			return *exemptTag, true
		case "EXEMPT_REPOSITORIES":
			return *exempt, true
		}
		return lookup(k)
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	awsCfg, err := awsconfig.Load(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	// The table is the output; per-repository log lines would drown it.
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	a := app.New(cfg, awsCfg, logger)
	// One read before any repository: a missing or invalid baseline stops
	// the run here instead of failing, and re-reading SSM, per repository.
	if _, err := a.Baseline.Load(ctx, 0); err != nil {
		fmt.Fprintln(stderr, "backfill: nothing enforced:", err)
		return ExitFailed
	}

	var (
		mu      sync.Mutex
		results []enforcer.Result
	)
	stop := progress(stderr, *quiet, func() int { mu.Lock(); defer mu.Unlock(); return len(results) })
	sum, err := a.Backfill.Run(ctx, backfill.Options{
		Prefix: *prefix, DryRun: *dryRun, Token: *token,
		OnResult: func(r enforcer.Result) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	stop()
	if err != nil {
		fmt.Fprintln(stderr, "backfill:", err)
		return ExitFailed
	}
	printTable(stdout, results)
	fmt.Fprintf(stdout, "\nscanned %d: applied %d, would apply %d, unchanged %d, skipped %d, exempt %d, failed %d\n",
		sum.Scanned, sum.Applied, sum.WouldApply, sum.Unchanged, sum.Skipped, sum.Exempt, sum.Failed)
	if !sum.Complete {
		// A repository cut short by the interrupt is listed as failed, and
		// the token resumes at it, so it is done again, never skipped.
		fmt.Fprintf(stderr, "interrupted: run not complete; resume with --token %s\n", sum.NextToken)
		return ExitIncomplete
	}
	if sum.Failed > 0 {
		return ExitFailed
	}
	return ExitOK
}

func printTable(w io.Writer, results []enforcer.Result) {
	sort.Slice(results, func(i, j int) bool { return results[i].Repository < results[j].Repository })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tRESULT\tREASON")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Repository, r.Action, r.Reason)
	}
	_ = tw.Flush()
}

// progress prints how many repositories are done every second until the
// returned stop is called, so a long run shows it is alive.
func progress(w io.Writer, quiet bool, done func() int) (stop func()) {
	if quiet {
		return func() {}
	}
	ticker := time.NewTicker(time.Second)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		for {
			select {
			case <-ticker.C:
				fmt.Fprintf(w, "... %d repositories done (%s)\n", done(), time.Since(start).Round(time.Second))
			case <-quit:
				return
			}
		}
	}()
	return func() { ticker.Stop(); close(quit); wg.Wait() }
}
