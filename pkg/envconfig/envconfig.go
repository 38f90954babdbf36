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
}

// Defaults for optional settings.
const DefaultCacheTTL = 5 * time.Minute

// Load reads the configuration through lookup (os.LookupEnv in main).
func Load(lookup func(string) (string, bool)) (Config, error) {
	cfg := Config{CacheTTL: DefaultCacheTTL}
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
	if err := errors.Join(problems...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
