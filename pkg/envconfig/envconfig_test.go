package envconfig

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{"defaults", map[string]string{"BASELINE_PARAMETER_NAME": "/p"}, Config{ParameterName: "/p", CacheTTL: DefaultCacheTTL,
			ReadTPS: DefaultReadTPS, WriteTPS: DefaultWriteTPS, Concurrency: DefaultConcurrency, Mode: "replace",
			ExemptTagKey: "ecr-baseline:exempt", ExemptTagValue: "true"}, ""},
		{"all set", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "30s", "DRY_RUN": "true",
			"ECR_READ_TPS": "50", "ECR_WRITE_TPS": "19.5", "BACKFILL_CONCURRENCY": "16", "ENFORCEMENT_MODE": "merge", "FORCE": "true",
			"EXEMPT_TAG": "policy=manual", "EXEMPT_REPOSITORIES": "sandbox/*, legacy-*", "SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
			"AWS_LAMBDA_FUNCTION_NAME": "fn"},
			Config{ParameterName: "/p", CacheTTL: 30 * time.Second, DryRun: true, ReadTPS: 50, WriteTPS: 19.5, Concurrency: 16,
				Mode: "merge", Force: true, ExemptTagKey: "policy", ExemptTagValue: "manual", ExemptGlobs: []string{"sandbox/*", "legacy-*"},
				SelfRoleARN: "arn:aws:iam::123456789012:role/r", FunctionName: "fn"}, ""},
		{"tag exemption off", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "EXEMPT_TAG": ""},
			Config{ParameterName: "/p", CacheTTL: DefaultCacheTTL, ReadTPS: DefaultReadTPS, WriteTPS: DefaultWriteTPS, Concurrency: DefaultConcurrency, Mode: "replace"}, ""},
		{"bad enforcement options", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ENFORCEMENT_MODE": "append", "EXEMPT_TAG": "novalue", "EXEMPT_REPOSITORIES": "a/[", "FORCE": "yes please"}, Config{},
			"configuration: FORCE must be true or false, got \"yes please\"\nENFORCEMENT_MODE must be replace or merge, got \"append\"\nEXEMPT_TAG must be key=value (or empty to turn it off), got \"novalue\"\nEXEMPT_REPOSITORIES: \"a/[\" is not a valid pattern"},
		{"zero TTL reads every time", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "0s"},
			Config{ParameterName: "/p", ReadTPS: DefaultReadTPS, WriteTPS: DefaultWriteTPS, Concurrency: DefaultConcurrency, Mode: "replace",
				ExemptTagKey: "ecr-baseline:exempt", ExemptTagValue: "true"}, ""},
		{"zero rate", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_WRITE_TPS": "0"}, Config{},
			"configuration: ECR_WRITE_TPS must be a positive number, got \"0\""},
		{"fractional concurrency", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BACKFILL_CONCURRENCY": "0.5"}, Config{},
			"configuration: BACKFILL_CONCURRENCY must be a positive whole number, got \"0.5\""},
		{"every problem at once", map[string]string{"BASELINE_CACHE_TTL": "soon", "DRY_RUN": "maybe"}, Config{},
			"configuration: BASELINE_PARAMETER_NAME is required\nBASELINE_CACHE_TTL must be a duration such as 5m, got \"soon\"\nDRY_RUN must be true or false, got \"maybe\""},
		{"negative TTL", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "-1m"}, Config{},
			"configuration: BASELINE_CACHE_TTL must be a duration such as 5m, got \"-1m\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
