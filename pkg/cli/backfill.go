package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

const backfillAbout = `usage: ecr-baseline backfill [flags]

backfill enforces the baseline on every repository of the account and
region the AWS configuration selects, and prints what changed. Each policy
it replaces is archived first in --archive-bucket; --no-archive writes
without (not recommended). --dry-run, or --policy-file FILE (a template as
it would be stored in the parameter), previews: nothing is written.
`

const checkAbout = `usage: ecr-baseline check [flags]

check is backfill that never writes, for a CI gate: it prints what the
baseline (or the template in --policy-file FILE) would change, and exits 0
when no repository would change, 4 when any would, 1 when any failed.
`

// interruptedBeforeStart is reported when Ctrl-C comes before the first
// repository: there is no token, the same command starts over.
const interruptedBeforeStart = "interrupted before any repository: nothing enforced"

// backfill runs backfill, or check when check is set: a backfill that
// never writes and exits ExitChanges when a repository would change.
func (c command) backfill(ctx context.Context, args []string, check bool) int {
	name, about := "backfill", backfillAbout
	if check {
		name, about = "check", checkAbout
	}
	f := c.flags(name, about)
	prefix := f.String("prefix", "", "only repositories whose name starts with this")
	token := f.String("token", "", "resume an interrupted run from the token it printed (same --prefix)")
	policyFile := f.String("policy-file", "", "preview this template (as it would be stored in the parameter) instead of the parameter's; never writes")
	noArchive := new(bool)
	if !check {
		f.BoolVar(noArchive, "no-archive", false, "write without archiving the policies replaced (they cannot be restored)")
	}
	r := newRun[enforcer.Result, backfill.Summary](c, f, interruptedBeforeStart)
	s, code, ok := r.configure(ctx, args, spec{
		preview: func() string {
			switch {
			case check:
				return "check"
			case *policyFile != "":
				return "--policy-file"
			}
			return ""
		},
		check: func(s setup) error { return archiveChoice(s.cfg, *noArchive) },
	})
	if !ok {
		return code
	}
	// The caller's credentials write, and the function goes on enforcing
	// after them: the guardrails judge a Deny against both (the function's
	// role is known with --function). Without an answer from STS the guard
	// knows less and refuses more.
	var opts []app.Option
	id, code, ok := r.caller(ctx, s.aws, guardOnly)
	if !ok {
		return code
	}
	if id != nil {
		opts = append(opts, app.WithCaller(aws.ToString(id.Account), aws.ToString(id.Arn)))
	} else {
		opts = append(opts, app.WithCallerUnknown())
	}
	// The table is the output; per-repository log lines would drown it.
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	r.Baseline = "parameter " + s.cfg.ParameterName
	if *policyFile != "" {
		opts = append(opts, app.WithPolicyFile(*policyFile))
		r.Baseline = "file " + *policyFile
		fmt.Fprintf(r.stderr, "baseline: %s (a preview: nothing is written)\n", *policyFile)
	}
	a := app.New(s.cfg, s.aws, logger, opts...)
	ctx = enforcer.WithTrigger(ctx, "run:"+runID(name))
	// One read before any repository: a missing or invalid baseline stops
	// the run here instead of failing, and re-reading SSM, per repository.
	if _, err := a.Baseline.Load(ctx, 0); err != nil {
		if ctx.Err() != nil {
			return r.fail(ExitIncomplete, errors.New(interruptedBeforeStart))
		}
		return r.fail(ExitFailed, fmt.Errorf("%s: nothing enforced: %w", name, err))
	}

	var mu sync.Mutex
	total := newTotal()
	stop := progress(r.stderr, f.quiet, func() int { mu.Lock(); defer mu.Unlock(); return len(r.Results) }, total)
	if !f.quiet && *token == "" {
		total.Store(int64(inScope(ctx, a.Backfill.ECR, *prefix)))
	}
	sum, err := a.Backfill.Run(ctx, backfill.Options{
		Prefix: *prefix, DryRun: s.cfg.DryRun, Token: *token,
		OnResult: func(res enforcer.Result) {
			mu.Lock()
			r.Results = append(r.Results, res)
			mu.Unlock()
			if c.onResult != nil {
				c.onResult(res)
			}
		},
	})
	stop()
	switch {
	case errors.Is(err, backfill.ErrBadToken):
		return r.fail(ExitUsage, fmt.Errorf("--token: %w", err))
	case err != nil && ctx.Err() != nil:
		return r.fail(ExitIncomplete, errors.New(interruptedBeforeStart))
	case err != nil:
		return r.fail(ExitFailed, fmt.Errorf("%s: %w", name, err))
	}
	sortedBy(r.Results, func(res enforcer.Result) string { return res.Repository })
	r.Summary = &sum
	r.text = func(w io.Writer) {
		printResults(w, r.Results)
		fmt.Fprintf(w, "\nscanned %d: applied %d, would apply %d, unchanged %d, skipped %d, exempt %d, failed %d\n",
			sum.Scanned, sum.Applied, sum.WouldApply, sum.Unchanged, sum.Skipped, sum.Exempt, sum.Failed)
	}
	switch {
	case !sum.Complete:
		// A repository cut short by the interrupt is listed as failed, and
		// the token resumes at it, so it is done again, never skipped.
		return r.fail(ExitIncomplete, fmt.Errorf("interrupted: run not complete; resume with --token %s", sum.NextToken))
	case sum.Failed > 0:
		return r.finish(ExitFailed)
	case check && sum.WouldApply > 0:
		fmt.Fprintf(r.stderr, "check: %d of %d repositories would change\n", sum.WouldApply, sum.Scanned)
		return r.finish(ExitChanges)
	}
	return r.finish(ExitOK)
}

// archiveChoice refuses a backfill that would write without an archive
// bucket unless the operator said --no-archive, and both at once.
func archiveChoice(cfg envconfig.Config, noArchive bool) error {
	switch {
	case noArchive && cfg.ArchiveBucket != "":
		return errors.New("--no-archive and --archive-bucket both given: choose one")
	case !noArchive && !cfg.DryRun && cfg.ArchiveBucket == "":
		return fmt.Errorf("backfill writes: give --archive-bucket (or %s), or --function or --stack to use the function's, to archive each policy it replaces, or --no-archive to write without", EnvVar(envconfig.ArchiveBucket))
	}
	return nil
}

func printResults(w io.Writer, results []enforcer.Result) {
	rows := make([][]string, len(results))
	for i, r := range results {
		diff := ""
		if r.Action == enforcer.Applied || r.Action == enforcer.WouldApply {
			diff = r.Diff.String()
		}
		rows[i] = []string{r.Repository, string(r.Action), diff, r.Reason}
	}
	printTable(w, []string{"REPOSITORY", "RESULT", "DIFF", "REASON"}, rows)
}
