// Package envconfig reads the function's settings from its environment.
package envconfig

import (
	"errors"
	"fmt"
	"strconv"
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
}

// Defaults for optional settings. ECR publishes no quota for these calls;
// the defaults are conservative, and SDK retries absorb what throttling
// remains.
const (
	DefaultCacheTTL    = 5 * time.Minute
	DefaultReadTPS     = 20
	DefaultWriteTPS    = 10
	DefaultConcurrency = 8
)

// Load reads the configuration through lookup (os.LookupEnv in main).
func Load(lookup func(string) (string, bool)) (Config, error) {
	cfg := Config{CacheTTL: DefaultCacheTTL, ReadTPS: DefaultReadTPS, WriteTPS: DefaultWriteTPS, Concurrency: DefaultConcurrency}
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
	if v, ok := lookup("DRY_RUN"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("DRY_RUN must be true or false, got %q", v))
		}
		cfg.DryRun = b
	}
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
	positive("BACKFILL_CONCURRENCY", func(f float64) { cfg.Concurrency = int(f) })
	if err := errors.Join(problems...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
