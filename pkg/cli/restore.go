package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/restore"
)

// exemptions adapts the enforcer's own exemption check to restore's.
type exemptions func(context.Context, ecrevent.Repository) (bool, error)

func (f exemptions) Exempt(ctx context.Context, repo ecrevent.Repository) (bool, error) {
	return f(ctx, repo)
}

const restoreAbout = `usage: ecr-baseline restore [flags]

restore puts back the policy an archived write replaced, for one
repository (--repository), a prefix (--prefix) or every repository
written after a time (--since). A restored policy that is not the
baseline stays only where the enforcer leaves it: restore refuses a
repository the function does not exempt, unless the function is in
dry-run. With --function, the exemptions and dry-run are the function's;
without, --exempt, --exempt-tag and --enforcer-dry-run say what they are.
See "Recovering a replaced policy" in the README.
`

func (c command) restore(ctx context.Context, args []string) int {
	f := c.flags("restore", restoreAbout)
	repository := f.String("repository", "", "restore this one repository")
	prefix := f.String("prefix", "", "restore every archived repository whose name starts with this")
	since := f.String("since", "", "restore each repository to its policy before its first write after this time (RFC 3339)")
	enforcerDryRun := f.Bool("enforcer-dry-run", false, "the deployed stack is in dry-run: restore repositories that are not exempt too (with --function or --stack, read from the function)")
	r := newRun[restore.Result, restore.Summary](c, f, "interrupted before any repository: nothing restored")
	var sel restore.Selection
	s, code, ok := r.configure(ctx, args, spec{
		// The function's DRY_RUN is whether it enforces, not whether this
		// restore writes.
		own: []*envconfig.Setting{envconfig.DryRun},
		check: func(s setup) (err error) {
			if s.deployed != nil {
				for _, name := range []string{envconfig.ExemptRepositories.Flag, envconfig.ExemptTag.Flag, "enforcer-dry-run"} {
					if f.set(name) {
						return fmt.Errorf("--%s and --function (or --stack) both given: restore takes the exemptions and dry-run from the function, which decides whether a restored policy stays", name)
					}
				}
				*enforcerDryRun = s.deployed.DryRun
			}
			sel, err = selection(*repository, *prefix, *since, s.cfg)
			return err
		},
	})
	if !ok {
		return code
	}
	// The archive keys name the account; events and listings name it for
	// the enforcer, a restore must ask.
	id, code, ok := r.caller(ctx, s.aws, "nothing restored")
	if !ok {
		return code
	}
	a := app.New(s.cfg, s.aws, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	runner := &restore.Runner{
		// Not rate-limited like the enforcer's client: a restore is an
		// operator's few writes, and restore.Runner's concurrency paces it.
		ECR: ecr.NewFromConfig(s.aws), Archive: a.Archive, Exemptions: exemptions(a.Enforcer.IsExempt),
		AccountID: aws.ToString(id.Account), Region: s.aws.Region, Concurrency: s.cfg.Concurrency,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	var mu sync.Mutex
	total := newTotal()
	stop := progress(r.stderr, f.quiet, func() int { mu.Lock(); defer mu.Unlock(); return len(r.Results) }, total)
	sum, err := runner.Run(ctx, restore.Options{
		Selection: sel, DryRun: s.cfg.DryRun, EnforcerDryRun: *enforcerDryRun, RunID: "run:" + runID("restore"),
		OnSelected: func(n int) { total.Store(int64(n)) },
		OnResult:   func(res restore.Result) { mu.Lock(); r.Results = append(r.Results, res); mu.Unlock() },
	})
	stop()
	switch {
	case err != nil && ctx.Err() != nil:
		return r.fail(ExitIncomplete, errors.New(r.interrupted))
	case err != nil:
		return r.fail(ExitFailed, err)
	}
	sortedBy(r.Results, func(res restore.Result) string { return res.Repository })
	r.Summary = &sum
	r.text = func(w io.Writer) {
		rows := make([][]string, len(r.Results))
		for i, res := range r.Results {
			rows[i] = []string{res.Repository, string(res.Action), res.Diff.String(), res.Reason}
		}
		printTable(w, []string{"REPOSITORY", "RESULT", "DIFF", "REASON"}, rows)
		fmt.Fprintf(w, "\nscanned %d: restored %d, would restore %d, unchanged %d, skipped %d, refused %d, failed %d\n",
			sum.Scanned, sum.Restored, sum.WouldRestore, sum.Unchanged, sum.Skipped, sum.Refused, sum.Failed)
	}
	switch {
	case !sum.Complete:
		// Restoring again finishes the run: a restored repository then
		// reads unchanged.
		return r.fail(ExitIncomplete, errors.New("interrupted: run not complete; run the same command again to finish it"))
	case sum.Failed > 0 || sum.Refused > 0:
		return r.finish(ExitFailed)
	}
	return r.finish(ExitOK)
}

// selection checks restore's flags: one of --repository, --prefix and
// --since at least, not both of the first two, and a bucket to read.
func selection(repository, prefix, since string, cfg envconfig.Config) (restore.Selection, error) {
	sel := restore.Selection{Repository: repository, Prefix: prefix}
	switch {
	case cfg.ArchiveBucket == "":
		return sel, fmt.Errorf("restore reads the archive: give --function or --stack, or --archive-bucket (or %s)", EnvVar(envconfig.ArchiveBucket))
	case repository != "" && prefix != "":
		return sel, errors.New("--repository and --prefix both given: choose one")
	case repository == "" && prefix == "" && since == "":
		return sel, errors.New("restore needs --repository, --prefix or --since: it never restores the whole account by default")
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return sel, fmt.Errorf("--since must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", since)
		}
		sel.After = t
	}
	return sel, nil
}
