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
		{"defaults", map[string]string{"BASELINE_PARAMETER_NAME": "/p"}, Config{ParameterName: "/p", CacheTTL: DefaultCacheTTL}, ""},
		{"all set", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "30s", "DRY_RUN": "true"},
			Config{ParameterName: "/p", CacheTTL: 30 * time.Second, DryRun: true}, ""},
		{"zero TTL reads every time", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "0s"},
			Config{ParameterName: "/p"}, ""},
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
