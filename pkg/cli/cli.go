// Package cli is the local command line: the same backfill engine as the
// Lambda, run with local credentials (or AWS_ENDPOINT_URL) and reported as
// a table an operator can read.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

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
	ExitUsage  = 2 // bad flags, configuration or token; nothing ran
	// ExitIncomplete: interrupted (Ctrl-C) before every repository was
	// handled; the printed token resumes the run.
	ExitIncomplete = 3
)

// EnvPrefix namespaces the environment variables the command reads, so a
// DRY_RUN or FORCE set in a shell for something else changes nothing.
const EnvPrefix = "ECR_BASELINE_"

// EnvVar is the environment variable the command reads for a setting:
// EnvPrefix and the flag's name in capitals (ECR_BASELINE_READ_TPS for
// --read-tps); "" for a setting without a flag.
func EnvVar(s *envconfig.Setting) string {
	if s.Flag == "" {
		return ""
	}
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

const usage = `usage: ecr-baseline backfill|restore [flags]

backfill enforces the baseline on every repository of the account and
region the AWS configuration selects, and prints what changed. Each policy
it replaces is archived first in --archive-bucket; --no-archive writes
without (not recommended).

restore puts back the policy an archived write replaced, for one
repository (--repository), a prefix (--prefix) or every repository
written after a time (--since). See "Recovering a replaced policy" in the
README.

A flag's environment variable (ECR_BASELINE_...) applies when the flag is
not given.

flags:
`

// Run executes the command line args (without the program name) and
// returns the exit code. Cancelling ctx is the interrupt (main cancels it
// on Ctrl-C).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	return command{stdout: stdout, stderr: stderr, lookup: lookup}.run(ctx, args)
}

// interruptedBeforeStart is reported when Ctrl-C comes before the first
// repository: there is no token, the same command starts over.
const interruptedBeforeStart = "interrupted before any repository: nothing enforced"

type command struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// onResult, when set, sees each result as it happens: tests interrupt
	// a run after a number of repositories with it, not after a time.
	onResult func(enforcer.Result)
}

func (c command) run(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "backfill":
			return c.backfill(ctx, args[1:])
		case "restore":
			return c.restore(ctx, args[1:])
		}
	}
	fmt.Fprint(c.stderr, usage)
	return ExitUsage
}

// flags is a subcommand's flag set with a flag for every setting; given
// collects the settings' flags for resolve.
func (c command) flags(name string) (*flag.FlagSet, map[*envconfig.Setting]string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage); fs.PrintDefaults() }
	given := map[*envconfig.Setting]string{}
	for _, s := range envconfig.Settings {
		if s.Flag != "" {
			fs.Var(&settingFlag{s, given}, s.Flag, fmt.Sprintf("%s (env %s, default %q)", s.Usage, EnvVar(s), s.Default))
		}
	}
	return fs, given
}

// resolve reads the settings from the flags given, then the environment.
func (c command) resolve(given map[*envconfig.Setting]string) (envconfig.Config, []envconfig.Value, error) {
	return envconfig.Resolve(
		func(s *envconfig.Setting) (string, string, bool) { v, ok := given[s]; return v, "--" + s.Flag, ok },
		func(s *envconfig.Setting) (string, string, bool) {
			if s.Flag == "" {
				return "", "", false
			}
			v, ok := c.lookup(EnvVar(s))
			return v, EnvVar(s), ok
		})
}

// configure parses a subcommand's args, resolves its settings, applies
// its own check, prints the settings and loads the AWS configuration. It
// reports any problem; false means exit with ExitUsage, nothing ran.
func (c command) configure(ctx context.Context, fs *flag.FlagSet, given map[*envconfig.Setting]string, args []string,
	check func(envconfig.Config) error) (envconfig.Config, aws.Config, bool) {
	if err := fs.Parse(args); err != nil {
		return envconfig.Config{}, aws.Config{}, false
	}
	cfg, values, err := c.resolve(given)
	if err == nil {
		err = check(cfg)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return cfg, aws.Config{}, false
	}
	printSettings(c.stderr, cfg, values)
	awsCfg, err := awsconfig.Load(ctx)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return cfg, awsCfg, false
	}
	return cfg, awsCfg, true
}

// runID names a CLI run in the archive records it writes.
func runID(command string) string {
	return "cli-" + command + "-" + time.Now().UTC().Format("20060102T150405Z")
}

func (c command) backfill(ctx context.Context, args []string) int {
	fs, given := c.flags("backfill")
	prefix := fs.String("prefix", "", "only repositories whose name starts with this")
	token := fs.String("token", "", "resume an interrupted run from the token it printed (same --prefix)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	noArchive := fs.Bool("no-archive", false, "write without archiving the policies replaced (they cannot be restored)")
	cfg, awsCfg, ok := c.configure(ctx, fs, given, args, func(cfg envconfig.Config) error { return archiveChoice(cfg, *noArchive) })
	if !ok {
		return ExitUsage
	}
	// The table is the output; per-repository log lines would drown it.
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	a := app.New(cfg, awsCfg, logger)
	ctx = enforcer.WithTrigger(ctx, "run:"+runID("backfill"))
	// One read before any repository: a missing or invalid baseline stops
	// the run here instead of failing, and re-reading SSM, per repository.
	if _, err := a.Baseline.Load(ctx, 0); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(c.stderr, interruptedBeforeStart)
			return ExitIncomplete
		}
		fmt.Fprintln(c.stderr, "backfill: nothing enforced:", err)
		return ExitFailed
	}

	var (
		mu      sync.Mutex
		results []enforcer.Result
	)
	stop := progress(c.stderr, *quiet, func() int { mu.Lock(); defer mu.Unlock(); return len(results) })
	sum, err := a.Backfill.Run(ctx, backfill.Options{
		Prefix: *prefix, DryRun: cfg.DryRun, Token: *token,
		OnResult: func(r enforcer.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			if c.onResult != nil {
				c.onResult(r)
			}
		},
	})
	stop()
	switch {
	case errors.Is(err, backfill.ErrBadToken):
		fmt.Fprintln(c.stderr, "--token:", err)
		return ExitUsage
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(c.stderr, interruptedBeforeStart)
		return ExitIncomplete
	case err != nil:
		fmt.Fprintln(c.stderr, "backfill:", err)
		return ExitFailed
	}
	printResults(c.stdout, results)
	fmt.Fprintf(c.stdout, "\nscanned %d: applied %d, would apply %d, unchanged %d, skipped %d, exempt %d, failed %d\n",
		sum.Scanned, sum.Applied, sum.WouldApply, sum.Unchanged, sum.Skipped, sum.Exempt, sum.Failed)
	if !sum.Complete {
		// A repository cut short by the interrupt is listed as failed, and
		// the token resumes at it, so it is done again, never skipped.
		fmt.Fprintf(c.stderr, "interrupted: run not complete; resume with --token %s\n", sum.NextToken)
		return ExitIncomplete
	}
	if sum.Failed > 0 {
		return ExitFailed
	}
	return ExitOK
}

// archiveChoice refuses a backfill that would write without an archive
// bucket unless the operator said --no-archive, and both at once.
func archiveChoice(cfg envconfig.Config, noArchive bool) error {
	switch {
	case noArchive && cfg.ArchiveBucket != "":
		return errors.New("--no-archive and --archive-bucket both given: choose one")
	case !noArchive && !cfg.DryRun && cfg.ArchiveBucket == "":
		return fmt.Errorf("backfill writes: give --archive-bucket (or %s) to archive each policy it replaces, or --no-archive to write without", EnvVar(envconfig.ArchiveBucket))
	}
	return nil
}

// settingFlag keeps a flag's text for envconfig.Resolve, which checks it
// with the setting's own parser and names the flag in its message.
type settingFlag struct {
	setting *envconfig.Setting
	given   map[*envconfig.Setting]string
}

func (f *settingFlag) String() string { return "" }

func (f *settingFlag) Set(v string) error { f.given[f.setting] = v; return nil }

// IsBoolFlag lets `--dry-run` stand for `--dry-run=true`.
func (f *settingFlag) IsBoolFlag() bool { return f.setting.IsBool() }

// printSettings shows, before anything runs, each setting the command
// uses and where its value came from, so a value from the environment is
// never a surprise.
func printSettings(w io.Writer, cfg envconfig.Config, values []envconfig.Value) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "settings:")
	for _, v := range values {
		s := v.Setting
		if s.Flag == "" {
			continue
		}
		from := v.From
		switch from {
		case "--" + s.Flag:
			from = "flag"
		case EnvVar(s):
			from = "environment " + from
		}
		fmt.Fprintf(tw, "  --%s\t%q\t%s\n", s.Flag, s.Format(cfg), from)
	}
	_ = tw.Flush()
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

// printTable prints rows sorted by their first column, the repository.
func printTable(w io.Writer, header []string, rows [][]string) {
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
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
