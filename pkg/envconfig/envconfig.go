// Package envconfig reads the function's settings from its environment.
package envconfig

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Config is every setting the function reads.
type Config struct {
	// ParameterName is the SSM parameter holding the baseline template.
	ParameterName string
	// CacheTTL is how long a warm container reuses the baseline.
	CacheTTL time.Duration
	// DryRun logs what would change and writes nothing.
	DryRun bool
	// ReadTPS and WriteTPS pace ECR reads and writes per container.
	ReadTPS, WriteTPS float64
	// Concurrency is how many repositories a backfill enforces at once.
	Concurrency int
	// Mode is "replace" or "merge".
	Mode string
	// Force applies a baseline that fails the lock-out guard.
	Force bool
	// ExemptTagKey and ExemptTagValue exempt tagged repositories; an empty
	// key turns tag exemption off.
	ExemptTagKey, ExemptTagValue string
	// ExemptGlobs exempt repositories by name.
	ExemptGlobs []string
	// SelfRoleARN is the function's own role: policy changes it made are
	// its own writes and must not trigger it again.
	SelfRoleARN string
	// FunctionName is the function itself, for resuming a fleet-wide
	// re-enforcement by invoking itself; empty outside Lambda.
	FunctionName string
}

// Defaults for optional settings. ECR publishes no quota for these calls;
// the defaults are conservative, and SDK retries absorb what throttling
// remains.
const (
	DefaultCacheTTL    = 5 * time.Minute
	DefaultReadTPS     = 20
	DefaultWriteTPS    = 10
	DefaultConcurrency = 8
	DefaultMode        = "replace"
	DefaultExemptTag   = "ecr-baseline:exempt=true"
)

// Load reads the configuration through lookup (os.LookupEnv in main).
func Load(lookup func(string) (string, bool)) (Config, error) {
	cfg := Config{CacheTTL: DefaultCacheTTL, ReadTPS: DefaultReadTPS, WriteTPS: DefaultWriteTPS, Concurrency: DefaultConcurrency, Mode: DefaultMode}
	var problems []error
	name, _ := lookup("BASELINE_PARAMETER_NAME")
	if name == "" {
		problems = append(problems, errors.New("BASELINE_PARAMETER_NAME is required"))
	}
	cfg.ParameterName = name
	if v, ok := lookup("BASELINE_CACHE_TTL"); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			problems = append(problems, fmt.Errorf("BASELINE_CACHE_TTL must be a duration such as 5m, got %q", v))
		}
		cfg.CacheTTL = d
	}
	boolean := func(key string, set func(bool)) {
		if v, ok := lookup(key); ok && v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s must be true or false, got %q", key, v))
			}
			set(b)
		}
	}
	boolean("DRY_RUN", func(b bool) { cfg.DryRun = b })
	boolean("FORCE", func(b bool) { cfg.Force = b })
	if v, ok := lookup("ENFORCEMENT_MODE"); ok && v != "" {
		if v != "replace" && v != "merge" {
			problems = append(problems, fmt.Errorf("ENFORCEMENT_MODE must be replace or merge, got %q", v))
		}
		cfg.Mode = v
	}
	tag, ok := lookup("EXEMPT_TAG")
	if !ok {
		tag = DefaultExemptTag
	}
	if tag != "" {
		k, v, found := strings.Cut(tag, "=")
		if !found || k == "" {
			problems = append(problems, fmt.Errorf("EXEMPT_TAG must be key=value (or empty to turn it off), got %q", tag))
		}
		cfg.ExemptTagKey, cfg.ExemptTagValue = k, v
	}
	if v, _ := lookup("EXEMPT_REPOSITORIES"); v != "" {
		for _, g := range strings.Split(v, ",") {
			g = strings.TrimSpace(g)
			if _, err := path.Match(g, ""); err != nil || g == "" {
				problems = append(problems, fmt.Errorf("EXEMPT_REPOSITORIES: %q is not a valid pattern", g))
				continue
			}
			cfg.ExemptGlobs = append(cfg.ExemptGlobs, g)
		}
	}
	cfg.SelfRoleARN, _ = lookup("SELF_ROLE_ARN")
	cfg.FunctionName, _ = lookup("AWS_LAMBDA_FUNCTION_NAME")
	positive := func(key string, set func(float64)) {
		v, ok := lookup(key)
		if !ok || v == "" {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			problems = append(problems, fmt.Errorf("%s must be a positive number, got %q", key, v))
			return
		}
		set(f)
	}
	positive("ECR_READ_TPS", func(f float64) { cfg.ReadTPS = f })
	positive("ECR_WRITE_TPS", func(f float64) { cfg.WriteTPS = f })
	if v, ok := lookup("BACKFILL_CONCURRENCY"); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Errorf("BACKFILL_CONCURRENCY must be a positive whole number, got %q", v))
		}
		cfg.Concurrency = n
	}
	if err := errors.Join(problems...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
