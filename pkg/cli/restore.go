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
	"github.com/aws/aws-sdk-go-v2/service/sts"

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

func (c command) restore(ctx context.Context, args []string) int {
	fs, given := c.flags("restore")
	repository := fs.String("repository", "", "restore this one repository")
	prefix := fs.String("prefix", "", "restore every archived repository whose name starts with this")
	since := fs.String("since", "", "restore each repository to its policy before its first write after this time (RFC 3339)")
	enforcerDryRun := fs.Bool("enforcer-dry-run", false, "the deployed stack is in dry-run: restore repositories that are not exempt too")
	quiet := fs.Bool("quiet", false, "no progress lines")
	var sel restore.Selection
	cfg, awsCfg, ok := c.configure(ctx, fs, given, args, func(cfg envconfig.Config) (err error) {
		sel, err = selection(*repository, *prefix, *since, cfg)
		return err
	})
	if !ok {
		return ExitUsage
	}
	// The archive keys name the account; events and listings name it for
	// the enforcer, a restore must ask (one call).
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(c.stderr, "interrupted before any repository: nothing restored")
			return ExitIncomplete
		}
		fmt.Fprintln(c.stderr, "restore: nothing restored: get caller identity:", err)
		return ExitFailed
	}
	a := app.New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	runner := &restore.Runner{
		// Not rate-limited like the enforcer's client: a restore is an
		// operator's few writes, and restore.Runner's concurrency paces it.
		ECR: ecr.NewFromConfig(awsCfg), Archive: a.Archive, Exemptions: exemptions(a.Enforcer.IsExempt),
		AccountID: aws.ToString(id.Account), Region: awsCfg.Region, Concurrency: cfg.Concurrency,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	var (
		mu      sync.Mutex
		results []restore.Result
	)
	stop := progress(c.stderr, *quiet, func() int { mu.Lock(); defer mu.Unlock(); return len(results) })
	sum, err := runner.Run(ctx, restore.Options{
		Selection: sel, DryRun: cfg.DryRun, EnforcerDryRun: *enforcerDryRun, RunID: "run:" + runID("restore"),
		OnResult: func(r restore.Result) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	stop()
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(c.stderr, "interrupted before any repository: nothing restored")
		return ExitIncomplete
	case err != nil:
		fmt.Fprintln(c.stderr, err)
		return ExitFailed
	}
	rows := make([][]string, len(results))
	for i, r := range results {
		rows[i] = []string{r.Repository, string(r.Action), r.Diff.String(), r.Reason}
	}
	printTable(c.stdout, []string{"REPOSITORY", "RESULT", "DIFF", "REASON"}, rows)
	fmt.Fprintf(c.stdout, "\nscanned %d: restored %d, would restore %d, unchanged %d, skipped %d, refused %d, failed %d\n",
		sum.Scanned, sum.Restored, sum.WouldRestore, sum.Unchanged, sum.Skipped, sum.Refused, sum.Failed)
	if !sum.Complete {
		// Restoring again finishes the run: a restored repository then
		// reads unchanged.
		fmt.Fprintln(c.stderr, "interrupted: run not complete; run the same command again to finish it")
		return ExitIncomplete
	}
	if sum.Failed > 0 || sum.Refused > 0 {
		return ExitFailed
	}
	return ExitOK
}

// selection checks restore's flags: one of --repository, --prefix and
// --since at least, not both of the first two, and a bucket to read.
func selection(repository, prefix, since string, cfg envconfig.Config) (restore.Selection, error) {
	sel := restore.Selection{Repository: repository, Prefix: prefix}
	switch {
	case cfg.ArchiveBucket == "":
		return sel, fmt.Errorf("restore reads the archive: give --archive-bucket (or %s)", EnvVar(envconfig.ArchiveBucket))
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
