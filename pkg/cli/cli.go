// Package cli is the local command line: the same backfill engine as the
// Lambda, run with local credentials (or AWS_ENDPOINT_URL) and reported as
// a table an operator can read or one JSON document a pipeline can.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

// Exit codes. Scripts and pipelines branch on them: they do not change.
const (
	ExitOK = 0
	// ExitFailed: a repository failed, or the run could not start (the
	// baseline could not be loaded, the repositories not listed).
	ExitFailed = 1
	// ExitUsage: bad flags, settings, token or function configuration;
	// nothing ran.
	ExitUsage = 2
	// ExitIncomplete: interrupted (Ctrl-C) before every repository was
	// handled; the printed token resumes the run.
	ExitIncomplete = 3
	// ExitChanges: check found repositories the baseline would change,
	// and none failed.
	ExitChanges = 4
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

const usage = `usage: ecr-baseline <command> [flags]

commands:
  backfill  enforce the baseline on every repository and print what changed
            (--dry-run, or --policy-file FILE, previews)
  check     backfill that never writes: exit 4 when any repository would change
  restore   put back the policy an archived write replaced
  version   print the version (also --version)
  help      print this (also -h)

Give --stack NAME (the deployed stack) or --function NAME to run with the
deployed function's settings (mode, exemptions, parameter, archive
bucket, ...). "ecr-baseline <command> -h"
lists a command's flags.

exit codes: 0 done; 1 a repository failed or the baseline could not be
loaded; 2 bad flags, settings or token; 3 interrupted; 4 (check) a
repository would change.
`

// settingsHelp ends every command's help, before its flags.
const settingsHelp = `
A setting comes from its flag, else from the function --function (or
--stack) names (its environment, as the function reads it), else, without
either, from the flag's environment variable (ECR_BASELINE_...), else its
default.

flags:
`

// Run executes the command line args (without the program name) and
// returns the exit code. Cancelling ctx is the interrupt (main cancels it
// on Ctrl-C).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	return command{stdout: stdout, stderr: stderr, lookup: lookup}.run(ctx, args)
}

type command struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// onResult, when set, sees each result as it happens: tests interrupt
	// a run after a number of repositories with it, not after a time.
	onResult func(enforcer.Result)
}

func (c command) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "backfill":
		return c.backfill(ctx, args[1:], false)
	case "check":
		return c.backfill(ctx, args[1:], true)
	case "restore":
		return c.restore(ctx, args[1:])
	case "version", "-version", "--version":
		fmt.Fprintln(c.stdout, "ecr-baseline", Version())
		return ExitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(c.stderr, "ecr-baseline: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// flags is a subcommand's flag set: a flag for every setting, and the
// flags every subcommand shares.
type flags struct {
	*flag.FlagSet
	about string
	// given collects the settings' flags for resolve.
	given                                    map[*envconfig.Setting]string
	function, stack, region, profile, output string
	quiet                                    bool
}

func (c command) flags(name, about string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	// Help is printed by configure: to stdout when asked for, to stderr
	// after a flag error.
	fs.Usage = func() {}
	f := &flags{FlagSet: fs, about: about, given: map[*envconfig.Setting]string{}}
	for _, s := range envconfig.Settings {
		if s.Flag != "" {
			fs.Var(&settingFlag{s, f.given}, s.Flag, fmt.Sprintf("%s (env %s, default %q)", s.Usage, EnvVar(s), s.Default))
		}
	}
	fs.StringVar(&f.function, "function", "", "take the settings from this deployed function's configuration (name or ARN); flags still override")
	fs.StringVar(&f.stack, "stack", "", "take the settings from the enforcer function of this deployed CloudFormation stack (as --function, found by its FunctionName output)")
	fs.StringVar(&f.region, "region", "", "AWS region (default: the AWS configuration's, e.g. AWS_REGION)")
	fs.StringVar(&f.profile, "profile", "", "AWS shared configuration profile (default: the AWS configuration's, e.g. AWS_PROFILE)")
	fs.StringVar(&f.output, "output", "text", "text (a table on stdout) or json (one JSON document on stdout)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	return f
}

func (f *flags) help(w io.Writer) {
	fmt.Fprint(w, f.about, settingsHelp)
	f.SetOutput(w)
	f.PrintDefaults()
}

// set reports whether the flag name was given.
func (f *flags) set(name string) bool {
	found := false
	f.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// spec is what a subcommand adds to configure.
type spec struct {
	// preview, read once the flags are parsed, names what makes the run
	// a dry run whatever the settings say ("check", "--policy-file"); ""
	// leaves it to the settings.
	preview func() string
	// own are settings that mean something else to the function and are
	// never read from it (restore's --dry-run is not the function's
	// DRY_RUN).
	own []*envconfig.Setting
	// check is the subcommand's check of its flags and settings.
	check func(setup) error
}

// setup is what configure gives a subcommand to run with.
type setup struct {
	cfg envconfig.Config
	aws aws.Config
	// deployed is the function's configuration as the function reads it;
	// nil without --function.
	deployed *envconfig.Config
}

// configure parses a subcommand's args, loads the AWS configuration,
// reads the function's configuration when --function names one, resolves
// the settings, applies the subcommand's check and prints the settings.
// When ok is false the run is over with code.
func (r *run[R, S]) configure(ctx context.Context, args []string, sp spec) (s setup, code int, ok bool) {
	f := r.flags
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help(r.stdout)
			return s, ExitOK, false
		}
		f.help(r.stderr)
		return s, ExitUsage, false
	}
	if f.output != "text" && f.output != "json" {
		// No document: the output the caller wants is not known.
		fmt.Fprintf(r.stderr, "--output must be text or json, got %q\n", f.output)
		return s, ExitUsage, false
	}
	r.json = f.output == "json"
	if f.NArg() > 0 {
		return s, r.fail(ExitUsage, fmt.Errorf("unexpected argument %q: flags only (see %s -h)", f.Arg(0), r.Command)), false
	}
	by := ""
	if sp.preview != nil {
		by = sp.preview()
	}
	if v, given := f.given[envconfig.DryRun]; given && by != "" {
		if dry, err := strconv.ParseBool(v); err == nil && !dry {
			return s, r.fail(ExitUsage, fmt.Errorf("%s never writes: --dry-run=false is refused", by)), false
		}
	}
	var err error
	if s.aws, err = loadAWS(ctx, f.region, f.profile); err != nil {
		return s, r.fail(ExitUsage, err), false
	}
	r.Region = s.aws.Region
	if f.stack != "" {
		if f.function != "" {
			return s, r.fail(ExitUsage, errors.New("--stack and --function both given: --stack finds the function, give one")), false
		}
		fn, err := stackFunction(ctx, cloudformation.NewFromConfig(s.aws), f.stack)
		if err != nil && ctx.Err() != nil {
			return s, r.fail(ExitIncomplete, errors.New(r.interrupted)), false
		}
		if err != nil {
			return s, r.fail(ExitUsage, err), false
		}
		f.function = fn
	}
	sources := []envconfig.Source{previewSource(by), flagSource(f.given)}
	if f.function == "" {
		sources = append(sources, r.environment())
	} else {
		fn, deployed, err := readFunction(ctx, lambda.NewFromConfig(s.aws), f.function)
		if err != nil && ctx.Err() != nil {
			return s, r.fail(ExitIncomplete, errors.New(r.interrupted)), false
		}
		if err != nil {
			return s, r.fail(ExitUsage, err), false
		}
		s.deployed = &deployed
		sources = append(sources, except(fn, sp.own...))
	}
	cfg, values, err := envconfig.Resolve(sources...)
	s.cfg = cfg
	if err == nil && sp.check != nil {
		err = sp.check(s)
	}
	if err != nil {
		return s, r.fail(ExitUsage, err), false
	}
	r.Settings = settingsOf(cfg, values, f.function)
	printSettings(r.stderr, r.Settings)
	return s, ExitOK, true
}

// loadAWS loads the AWS configuration, in region and with profile when
// they are given.
func loadAWS(ctx context.Context, region, profile string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	return awsconfig.Load(ctx, opts...)
}

// flagSource gives the settings' flags.
func flagSource(given map[*envconfig.Setting]string) envconfig.Source {
	return func(s *envconfig.Setting) (string, string, bool) { v, ok := given[s]; return v, "--" + s.Flag, ok }
}

// environment gives the settings from the command's own variables.
func (c command) environment() envconfig.Source {
	return func(s *envconfig.Setting) (string, string, bool) {
		if s.Flag == "" {
			return "", "", false
		}
		v, ok := c.lookup(EnvVar(s))
		return v, EnvVar(s), ok
	}
}

// previewSource makes a run a dry run, named by what made it one; by ""
// gives nothing.
func previewSource(by string) envconfig.Source {
	return func(s *envconfig.Setting) (string, string, bool) {
		return "true", by, s == envconfig.DryRun && by != ""
	}
}

// except is src without the settings skip.
func except(src envconfig.Source, skip ...*envconfig.Setting) envconfig.Source {
	return func(s *envconfig.Setting) (string, string, bool) {
		for _, k := range skip {
			if s == k {
				return "", "", false
			}
		}
		return src(s)
	}
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

// Setting is one setting a run used, as printed and reported.
type Setting struct {
	// Flag is the CLI flag without dashes; "" for a setting the CLI has
	// no flag for, read from the function.
	Flag string `json:"flag,omitempty"`
	// Variable is the function's environment variable.
	Variable string `json:"variable"`
	Value    string `json:"value"`
	// From is where the value came from: "flag", "environment
	// ECR_BASELINE_...", "function NAME", "default", or what made the run
	// a dry run ("check", "--policy-file").
	From string `json:"from"`
}

// settingsOf lists the settings a run uses: each that has a flag, and any
// other a function set.
func settingsOf(cfg envconfig.Config, values []envconfig.Value, function string) []Setting {
	var out []Setting
	for _, v := range values {
		s := v.Setting
		if s.Flag == "" && v.From == "default" {
			continue
		}
		from := v.From
		switch from {
		case "--" + s.Flag:
			from = "flag"
		case EnvVar(s):
			from = "environment " + from
		case fromFunction(function, s):
			from = "function " + function
		}
		out = append(out, Setting{Flag: s.Flag, Variable: s.Env, Value: s.Format(cfg), From: from})
	}
	return out
}

// printSettings shows, before anything runs, each setting the command
// uses and where its value came from, so a value from the environment or
// the function is never a surprise.
func printSettings(w io.Writer, settings []Setting) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "settings:")
	for _, s := range settings {
		name := s.Variable
		if s.Flag != "" {
			name = "--" + s.Flag
		}
		fmt.Fprintf(tw, "  %s\t%q\t%s\n", name, s.Value, s.From)
	}
	_ = tw.Flush()
}

// runID names a CLI run in the archive records it writes.
func runID(command string) string {
	return "cli-" + command + "-" + time.Now().UTC().Format("20060102T150405Z")
}
