package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/infra/ecrbaseline"
)

// Config is the app's settings, read from the CDK context: cdk.json's
// "context" block or `cdk synth -c key=value`.
type Config struct {
	// ParameterName is context key "parameterName".
	ParameterName string
	// PolicyFile is context key "policyFile": the baseline template,
	// relative to the directory cdk runs in (the repository root).
	PolicyFile string
	// CodePath is context key "codePath": the directory holding the
	// function's bootstrap, written by `make build`.
	CodePath string
	// DryRun is context key "dryRun".
	DryRun bool
	// CacheTTL is context key "cacheTTL", a Go duration such as "5m".
	CacheTTL time.Duration
	// KMSKeyARN is context key "kmsKeyArn": when set, the baseline is a
	// SecureString parameter encrypted with this key, created outside the
	// stack, and PolicyFile is not used.
	KMSKeyARN string
	// EnforcementMode is context key "enforcementMode": "replace" or
	// "merge".
	EnforcementMode string
	// Force is context key "force": deploy and apply a baseline that
	// fails the lock-out guard.
	Force bool
	// ExemptTag is context key "exemptTag": the key=value tag that exempts
	// a repository, or "" to turn tag exemption off.
	ExemptTag string
	// ExemptRepositories is context key "exemptRepositories": path.Match
	// patterns, a JSON list in cdk.json or comma-separated with -c.
	ExemptRepositories []string
	// ReadTPS is context key "readTps": ECR reads per second per container.
	ReadTPS float64
	// WriteTPS is context key "writeTps": ECR writes per second per
	// container.
	WriteTPS float64
	// BackfillConcurrency is context key "backfillConcurrency": how many
	// repositories a fleet run handles at once.
	BackfillConcurrency int
}

// DefaultConfig is the configuration with no context set.
func DefaultConfig() Config {
	return Config{
		ParameterName:       ecrbaseline.DefaultParameterName,
		PolicyFile:          "policies/baseline.json",
		CodePath:            "build/enforcer",
		CacheTTL:            ecrbaseline.DefaultCacheTTL,
		EnforcementMode:     ecrbaseline.DefaultEnforcementMode,
		ExemptTag:           ecrbaseline.DefaultExemptTag,
		ReadTPS:             ecrbaseline.DefaultReadTPS,
		WriteTPS:            ecrbaseline.DefaultWriteTPS,
		BackfillConcurrency: ecrbaseline.DefaultBackfillConcurrency,
	}
}

// EnforcerProps returns the construct's props for cfg, without the
// baseline text or key, which the stack reads.
func (cfg Config) EnforcerProps() *ecrbaseline.EnforcerProps {
	return &ecrbaseline.EnforcerProps{
		ParameterName:       cfg.ParameterName,
		CodePath:            cfg.CodePath,
		DryRun:              cfg.DryRun,
		CacheTTL:            cfg.CacheTTL,
		EnforcementMode:     cfg.EnforcementMode,
		Force:               cfg.Force,
		ExemptTag:           jsii.String(cfg.ExemptTag),
		ExemptRepositories:  cfg.ExemptRepositories,
		ReadTPS:             jsii.Number(cfg.ReadTPS),
		WriteTPS:            jsii.Number(cfg.WriteTPS),
		BackfillConcurrency: jsii.Number(float64(cfg.BackfillConcurrency)),
	}
}

// kmsKeyARN accepts key ARNs only: an alias ARN is not a valid resource for
// kms:Decrypt in an IAM policy.
var kmsKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`)

// ConfigFromContext reads Config from node's context, keeping the default
// for every key that is not set. cdk.json gives JSON values and `-c` gives
// strings, so both are accepted. It checks the form of each value; what a
// value means (a known mode, a valid pattern) is checked by
// ecrbaseline.NewEnforcer, which embedding stacks call too.
func ConfigFromContext(node constructs.Node) (Config, error) {
	cfg := DefaultConfig()
	for _, field := range []struct {
		key string
		set func(v any) error
	}{
		{"parameterName", text(func(s string) error { cfg.ParameterName = s; return nil })},
		{"policyFile", text(func(s string) error { cfg.PolicyFile = s; return nil })},
		{"codePath", text(func(s string) error { cfg.CodePath = s; return nil })},
		{"dryRun", boolean(&cfg.DryRun)},
		{"cacheTTL", text(func(s string) (err error) { cfg.CacheTTL, err = time.ParseDuration(s); return err })},
		{"kmsKeyArn", text(func(s string) error {
			if s != "" && !kmsKeyARN.MatchString(s) {
				return fmt.Errorf("%q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", s)
			}
			cfg.KMSKeyARN = s
			return nil
		})},
		{"enforcementMode", text(func(s string) error { cfg.EnforcementMode = s; return nil })},
		{"force", boolean(&cfg.Force)},
		{"exemptTag", text(func(s string) error { cfg.ExemptTag = s; return nil })},
		{"exemptRepositories", list(&cfg.ExemptRepositories)},
		{"readTps", number(func(f float64) error { cfg.ReadTPS = f; return nil })},
		{"writeTps", number(func(f float64) error { cfg.WriteTPS = f; return nil })},
		{"backfillConcurrency", number(func(f float64) error {
			if f != math.Trunc(f) || f > math.MaxInt32 {
				return fmt.Errorf("want a whole number, got %v", f)
			}
			cfg.BackfillConcurrency = int(f)
			return nil
		})},
	} {
		v := node.TryGetContext(jsii.String(field.key))
		if v == nil {
			continue
		}
		if err := field.set(v); err != nil {
			return cfg, fmt.Errorf("context %s: %w", field.key, err)
		}
	}
	return cfg, nil
}

// text reads a string; a JSON true or false is taken as its text, as -c
// would give it.
func text(set func(string) error) func(any) error {
	return func(v any) error {
		switch x := v.(type) {
		case string:
			return set(x)
		case bool:
			return set(strconv.FormatBool(x))
		default:
			return fmt.Errorf("want a string, got %T", v)
		}
	}
}

func boolean(dst *bool) func(any) error {
	return text(func(s string) (err error) { *dst, err = strconv.ParseBool(s); return err })
}

// number reads a JSON number or its text, which must be positive: every
// numeric setting is a rate or a count, and zero would stop the function.
func number(set func(float64) error) func(any) error {
	return func(v any) error {
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case string:
			var err error
			if f, err = strconv.ParseFloat(x, 64); err != nil {
				return err
			}
		default:
			return fmt.Errorf("want a number, got %T", v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
			return fmt.Errorf("want a positive number, got %v", v)
		}
		return set(f)
	}
}

// list reads a JSON list of strings, or a comma-separated string as -c
// gives it; an empty string or list is no patterns.
func list(dst *[]string) func(any) error {
	return func(v any) error {
		var out []string
		switch x := v.(type) {
		case string:
			if x != "" {
				for _, s := range strings.Split(x, ",") {
					out = append(out, strings.TrimSpace(s))
				}
			}
		case []any:
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("item %d: want a string, got %T", i, e)
				}
				out = append(out, s)
			}
		default:
			return fmt.Errorf("want a list of strings or a comma-separated string, got %T", v)
		}
		*dst = out
		return nil
	}
}
