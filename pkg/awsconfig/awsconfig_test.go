package awsconfig

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

func TestLoad(t *testing.T) {
	// Nothing from this machine's AWS setup may leak into the test.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "credentials"))
	t.Setenv("AWS_REGION", "eu-west-1")
	tests := []struct {
		name            string
		opts            []func(*config.LoadOptions) error
		wantTimeout     time.Duration
		wantMaxAttempts int
		wantPaced       bool
	}{
		{"defaults", nil, 10 * time.Second, 8, true},
		{"attempt timeout replaced", []func(*config.LoadOptions) error{WithAttemptTimeout(3 * time.Second)}, 3 * time.Second, 8, true},
		{"retryer replaced", []func(*config.LoadOptions) error{config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} })}, 10 * time.Second, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(context.Background(), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			client, ok := cfg.HTTPClient.(interface{ GetTimeout() time.Duration })
			if !ok {
				t.Fatalf("HTTP client %T does not report its timeout", cfg.HTTPClient)
			}
			if got := client.GetTimeout(); got != tt.wantTimeout {
				t.Errorf("attempt timeout %s, want %s", got, tt.wantTimeout)
			}
			if got := cfg.Retryer().MaxAttempts(); got != tt.wantMaxAttempts {
				t.Errorf("max attempts %d, want %d", got, tt.wantMaxAttempts)
			}
			// The SDK asks for a retryer once per client: each client
			// gets limiters of its own.
			first, paced := cfg.Retryer().(*Paced)
			if paced != tt.wantPaced {
				t.Errorf("retryer paced %v, want %v", paced, tt.wantPaced)
			}
			if second, _ := cfg.Retryer().(*Paced); paced && first == second {
				t.Error("two clients would share one set of limiters")
			}
		})
	}
}

func TestNewRetryer(t *testing.T) {
	r := NewRetryer(5 * time.Millisecond)
	if r.MaxAttempts() != MaxAttempts {
		t.Errorf("max attempts %d, want %d", r.MaxAttempts(), MaxAttempts)
	}
	for attempt := 1; attempt < MaxAttempts; attempt++ {
		d, err := r.RetryDelay(attempt, errThrottled{})
		if err != nil || d > 5*time.Millisecond {
			t.Errorf("delay before attempt %d: %s, %v; want at most 5ms", attempt+1, d, err)
		}
	}
	// The quota is off: any number of retries gets a token.
	for i := range 1000 {
		if _, err := r.GetRetryToken(context.Background(), errThrottled{}); err != nil {
			t.Fatalf("retry %d refused: %v", i, err)
		}
	}
}

type errThrottled struct{}

func (errThrottled) Error() string     { return "ThrottlingException" }
func (errThrottled) ErrorCode() string { return "ThrottlingException" }
