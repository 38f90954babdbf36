package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/infra/member"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

// Config is the app's settings, read from the CDK context: cdk.json's
// "context" block or `cdk synth -c key=value`.
type Config struct {
	// PolicyFile is context key "policyFile": the baseline template,
	// relative to the directory cdk runs in (the repository root).
	PolicyFile string
	// CodePath is context key "codePath": a directory holding a prebuilt
	// bootstrap (`make build` writes build/enforcer); empty, the default,
	// builds the function at synth (the construct's CodePath).
	CodePath string
	// KMSKeyARN is context key "kmsKeyArn": when set, the baseline is a
	// SecureString parameter encrypted with this key, created outside the
	// stack, and PolicyFile is not used.
	KMSKeyARN string
	// MemberStackSet is context key "memberStackSet": in organisation
	// mode, "SELF" or "DELEGATED_ADMIN" adds to the hub stack a StackSet
	// that deploys the member stack to every account of the
	// memberOrganizationalUnits, administered from the management
	// account or a delegated administrator (CloudFormation's CallAs);
	// empty, the default, adds none.
	MemberStackSet string
	// AlarmTopicARN is context key "alarmTopicArn": when set, the SNS
	// topic every alarm notifies as it fires and as it clears (the
	// construct's AlarmTopic).
	AlarmTopicARN string
	// Settings are the function's settings found in the context, by the
	// context keys of pkg/envconfig's table, as text: the construct's
	// Settings prop.
	Settings map[string]string
}

// DefaultConfig is the configuration with no context set: every function
// setting at its default.
func DefaultConfig() Config {
	return Config{PolicyFile: "policies/baseline.json", Settings: map[string]string{}}
}

// kmsKeyARN accepts key ARNs only: an alias ARN is not a valid resource for
// kms:Decrypt in an IAM policy.
var kmsKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`)

// snsTopicARN accepts standard topics: CloudWatch alarms cannot notify a
// FIFO topic.
var snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)

// ConfigFromContext reads Config from node's context, keeping the default
// for every key that is not set. cdk.json gives JSON values and `-c` gives
// strings, so both are accepted: a value becomes the text the function
// would read, and the function's own parser (pkg/envconfig) checks it
// here, so a bad value is reported with its context key.
func ConfigFromContext(node constructs.Node) (Config, error) {
	cfg := DefaultConfig()
	for _, app := range []struct {
		key string
		dst *string
	}{
		{"policyFile", &cfg.PolicyFile}, {"codePath", &cfg.CodePath}, {"kmsKeyArn", &cfg.KMSKeyARN},
		{"memberStackSet", &cfg.MemberStackSet}, {"alarmTopicArn", &cfg.AlarmTopicARN},
	} {
		if v := node.TryGetContext(jsii.String(app.key)); v != nil {
			text, err := contextText(v)
			if err != nil {
				return cfg, fmt.Errorf("context %s: %w", app.key, err)
			}
			*app.dst = text
		}
	}
	if cfg.KMSKeyARN != "" && !kmsKeyARN.MatchString(cfg.KMSKeyARN) {
		return cfg, fmt.Errorf("context kmsKeyArn: %q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", cfg.KMSKeyARN)
	}
	if cfg.AlarmTopicARN != "" && !snsTopicARN.MatchString(cfg.AlarmTopicARN) {
		return cfg, fmt.Errorf("context alarmTopicArn: %q is not the ARN of a standard SNS topic (arn:aws:sns:REGION:ACCOUNT:NAME)", cfg.AlarmTopicARN)
	}
	for _, s := range envconfig.Settings {
		if s.Context == "" {
			continue
		}
		if v := node.TryGetContext(jsii.String(s.Context)); v != nil {
			text, err := contextText(v)
			if err != nil {
				return cfg, fmt.Errorf("context %s: %w", s.Context, err)
			}
			cfg.Settings[s.Context] = text
		}
	}
	settings, err := functionSettings(cfg.Settings, "context ")
	if err != nil {
		return cfg, err
	}
	switch {
	case cfg.MemberStackSet != "" && cfg.MemberStackSet != member.CallAsSelf && cfg.MemberStackSet != member.CallAsDelegatedAdmin:
		return cfg, fmt.Errorf("context memberStackSet must be %s (the hub runs in the management account), %s (in a delegated administrator of StackSets) or empty for no StackSet, got %q",
			member.CallAsSelf, member.CallAsDelegatedAdmin, cfg.MemberStackSet)
	case cfg.MemberStackSet != "" && len(settings.MemberOrganizationalUnits) == 0:
		return cfg, errors.New("context memberStackSet needs memberOrganizationalUnits: a service-managed StackSet deploys to the accounts of OUs")
	}
	return cfg, nil
}

// functionSettings resolves the function's settings given by context key
// with the function's own parsers, naming each setting prefix+key in an
// error.
func functionSettings(given map[string]string, prefix string) (envconfig.Config, error) {
	cfg, _, err := envconfig.Resolve(func(s *envconfig.Setting) (string, string, bool) {
		v, ok := given[s.Context]
		return v, prefix + s.Context, ok && s.Context != ""
	})
	return cfg, err
}

// contextText is a context value as the text `-c key=value` would give: a
// JSON boolean or number as written, a JSON list of strings joined with
// commas, the way the function reads a list. An item holding a comma would
// split into two, so it is refused.
func contextText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case []any:
		items := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("item %d: want a string, got %T", i, e)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("item %d: %q holds a comma, which separates items", i, s)
			}
			items[i] = s
		}
		return strings.Join(items, ","), nil
	default:
		return "", fmt.Errorf("want a string, number, boolean or list of strings, got %T", v)
	}
}
