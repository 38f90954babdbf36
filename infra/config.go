package main

import (
	"fmt"
	"regexp"
	"strconv"
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
}

// DefaultConfig is the configuration with no context set.
func DefaultConfig() Config {
	return Config{
		ParameterName: ecrbaseline.DefaultParameterName,
		PolicyFile:    "policies/baseline.json",
		CodePath:      "build/enforcer",
		CacheTTL:      ecrbaseline.DefaultCacheTTL,
	}
}

// kmsKeyARN accepts key ARNs only: an alias ARN is not a valid resource for
// kms:Decrypt in an IAM policy.
var kmsKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`)

// ConfigFromContext reads Config from node's context, keeping the default
// for every key that is not set. cdk.json gives JSON values and `-c` gives
// strings, so both are accepted.
func ConfigFromContext(node constructs.Node) (Config, error) {
	cfg := DefaultConfig()
	get := func(key string) (string, bool, error) {
		switch v := node.TryGetContext(jsii.String(key)).(type) {
		case nil:
			return "", false, nil
		case string:
			return v, true, nil
		case bool:
			return strconv.FormatBool(v), true, nil
		default:
			return "", false, fmt.Errorf("context %s: want a string, got %T", key, v)
		}
	}
	for _, field := range []struct {
		key string
		set func(string) error
	}{
		{"parameterName", func(s string) error { cfg.ParameterName = s; return nil }},
		{"policyFile", func(s string) error { cfg.PolicyFile = s; return nil }},
		{"codePath", func(s string) error { cfg.CodePath = s; return nil }},
		{"dryRun", func(s string) (err error) { cfg.DryRun, err = strconv.ParseBool(s); return err }},
		{"cacheTTL", func(s string) (err error) { cfg.CacheTTL, err = time.ParseDuration(s); return err }},
		{"kmsKeyArn", func(s string) error {
			if s != "" && !kmsKeyARN.MatchString(s) {
				return fmt.Errorf("%q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", s)
			}
			cfg.KMSKeyARN = s
			return nil
		}},
	} {
		s, ok, err := get(field.key)
		if err != nil {
			return cfg, err
		}
		if !ok {
			continue
		}
		if err := field.set(s); err != nil {
			return cfg, fmt.Errorf("context %s: %w", field.key, err)
		}
	}
	return cfg, nil
}
