package envconfig

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Setting is one row of the table.
type Setting struct {
	// Env is the function's environment variable.
	Env string
	// Context is the CDK context key (cdk.json, `cdk synth -c key=value`),
	// also the key of the construct's Settings prop; "" when the stack
	// sets the variable itself.
	Context string
	// Flag is the CLI flag without its dashes; "" when the CLI has none.
	Flag string
	// Default is the value, as text, of a setting nobody gave.
	Default string
	// Usage says what the setting does, for the CLI's help.
	Usage string

	isBool bool
	// emptyIsValue makes "" a value (turn it off, no patterns) rather than
	// "not given", which falls back to the default.
	emptyIsValue bool
	// parse checks text and stores it in cfg; its error reads after the
	// setting's name ("must be ..., got ...").
	parse func(cfg *Config, text string) error
	// format writes the value back as the text parse reads.
	format func(cfg Config) string
}

// IsBool reports whether the setting is true or false: a flag without a
// value on the command line.
func (s *Setting) IsBool() bool { return s.isBool }

// Format returns the setting's value in cfg as text parse would read back:
// what the construct writes into the function's environment and the CLI
// prints.
func (s *Setting) Format(cfg Config) string { return s.format(cfg) }

// Source gives the text of a setting from one place (flags, environment,
// CDK context, props), and how that place names it, for messages; ok is
// false when the place does not have it.
type Source func(s *Setting) (text, name string, ok bool)

// Environment is the function's environment as a Source.
func Environment(lookup func(string) (string, bool)) Source {
	return func(s *Setting) (string, string, bool) {
		v, ok := lookup(s.Env)
		return v, s.Env, ok
	}
}

// Value is where a resolved setting came from.
type Value struct {
	Setting *Setting
	// From names its source ("--read-tps", "ECR_READ_TPS"), or is
	// "default".
	From string
}

// Resolve gives each setting the text of the first source that has it, or
// its default, and parses it with the setting's own parser. Every problem
// is reported, each naming the setting as its source names it.
func Resolve(sources ...Source) (Config, []Value, error) {
	var (
		cfg      Config
		values   []Value
		problems []error
	)
	for _, s := range Settings {
		v, text := Value{Setting: s, From: "default"}, s.Default
		for _, src := range sources {
			if t, name, ok := src(s); ok && (t != "" || s.emptyIsValue) {
				v.From, text = name, t
				break
			}
		}
		if err := s.parse(&cfg, text); err != nil {
			problems = append(problems, fmt.Errorf("%s %w", v.From, err))
		}
		values = append(values, v)
	}
	if err := errors.Join(problems...); err != nil {
		return Config{}, nil, err
	}
	return cfg, values, nil
}

// The kinds of setting: each makes a row from its names and the field it
// fills, so a setting's parser and formatter are written once per kind.

func text(s Setting, field func(*Config) *string) *Setting {
	s.parse = func(c *Config, v string) error { *field(c) = v; return nil }
	s.format = func(c Config) string { return *field(&c) }
	return &s
}

func boolean(s Setting, field func(*Config) *bool) *Setting {
	s.isBool = true
	s.parse = func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", v)
		}
		*field(c) = b
		return nil
	}
	s.format = func(c Config) string { return strconv.FormatBool(*field(&c)) }
	return &s
}

func duration(s Setting, field func(*Config) *time.Duration) *Setting {
	s.parse = func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("must be a duration such as 5m, got %q", v)
		}
		*field(c) = d
		return nil
	}
	s.format = func(c Config) string { return field(&c).String() }
	return &s
}

func mode(s Setting) *Setting {
	s.parse = func(c *Config, v string) error {
		if m := enforcer.Mode(v); m != enforcer.Replace && m != enforcer.Merge {
			return fmt.Errorf("must be %s or %s, got %q", enforcer.Replace, enforcer.Merge, v)
		}
		c.Mode = v
		return nil
	}
	s.format = func(c Config) string { return c.Mode }
	return &s
}

func tag(s Setting) *Setting {
	s.parse = func(c *Config, v string) error {
		if v == "" {
			c.ExemptTagKey, c.ExemptTagValue = "", ""
			return nil
		}
		k, val, found := strings.Cut(v, "=")
		if !found || k == "" {
			return fmt.Errorf("must be key=value (or empty to turn it off), got %q", v)
		}
		c.ExemptTagKey, c.ExemptTagValue = k, val
		return nil
	}
	s.format = func(c Config) string {
		if c.ExemptTagKey == "" {
			return ""
		}
		return c.ExemptTagKey + "=" + c.ExemptTagValue
	}
	return &s
}

// patterns are comma-separated, so a pattern cannot hold a comma; the
// spaces around each are dropped wherever the list comes from.
func patterns(s Setting) *Setting {
	return list(s, func(c *Config) *[]string { return &c.ExemptGlobs }, "Go path.Match patterns", func(g string) error {
		_, err := path.Match(g, "")
		return err
	})
}

// principals are comma-separated like patterns, each checked by the guard
// that uses them.
func principals(s Setting) *Setting {
	return list(s, func(c *Config) *[]string { return &c.AllowedPrincipals }, "account or organization IDs", policy.CheckAllowedPrincipal)
}

// list is a comma-separated list whose items, spaces around them dropped,
// each pass check; empty is none.
func list(s Setting, field func(*Config) *[]string, what string, check func(string) error) *Setting {
	s.emptyIsValue = true
	s.parse = func(c *Config, v string) error {
		*field(c) = nil
		if v == "" {
			return nil
		}
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return fmt.Errorf("must be comma-separated %s, got an empty one in %q", what, v)
			}
			if err := check(item); err != nil {
				return fmt.Errorf("must be comma-separated %s, got %q in %q: %w", what, item, v, err)
			}
			*field(c) = append(*field(c), item)
		}
		return nil
	}
	s.format = func(c Config) string { return strings.Join(*field(&c), ",") }
	return &s
}

// rate is an optional ceiling: empty is none (0). It refuses NaN and the
// infinities too: a NaN rate paces nothing.
func rate(s Setting, field func(*Config) *float64) *Setting {
	s.parse = func(c *Config, v string) error {
		if v == "" {
			*field(c) = 0
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < MinTPS || f > MaxTPS {
			return fmt.Errorf("must be a number of calls per second from %v to %v, got %q", MinTPS, MaxTPS, v)
		}
		*field(c) = f
		return nil
	}
	s.format = func(c Config) string {
		if *field(&c) == 0 {
			return ""
		}
		return strconv.FormatFloat(*field(&c), 'f', -1, 64)
	}
	return &s
}

func count(s Setting, field func(*Config) *int) *Setting {
	s.parse = func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("must be a positive whole number, got %q", v)
		}
		*field(c) = n
		return nil
	}
	s.format = func(c Config) string { return strconv.Itoa(*field(&c)) }
	return &s
}

var (
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
	ouID      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$`)
	rootID    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	region    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

func checkAccount(v string) error { return matches(accountID, v, "not a 12-digit account ID") }
func checkRegion(v string) error  { return matches(region, v, "not a region name such as eu-west-1") }

// IsRoot reports whether an item of MEMBER_ORGANIZATIONAL_UNITS is the
// organisation's root rather than an OU.
func IsRoot(id string) bool { return rootID.MatchString(id) }

// checkOU accepts an OU or the organisation's root, the whole
// organisation: Organizations lists a root's children as an OU's, and a
// StackSet deploys to every account of a root it targets.
func checkOU(v string) error {
	if IsRoot(v) {
		return nil
	}
	return matches(ouID, v, "neither an organizational unit ID (ou-...) nor the organisation's root ID (r-...)")
}

func matches(re *regexp.Regexp, v, problem string) error {
	if !re.MatchString(v) {
		return errors.New(problem)
	}
	return nil
}
