// Package awsconfig loads the AWS SDK configuration the function and the
// CLI share: a retry policy suited to bulk enforcement, every attempt paced
// to what the service accepts (Paced), and a timeout on every attempt, so
// no AWS call can hang.
package awsconfig

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// MaxAttempts is how many times one call is tried before its error is
// returned: enough backoff to ride out a burst of throttling or 5xx.
const MaxAttempts = 8

// AttemptTimeout bounds one HTTP attempt: connecting, sending, waiting for
// and reading the answer. ECR and SSM answer these calls in well under a
// second; an attempt that stalls is abandoned and retried like a dropped
// connection instead of holding the invocation until Lambda kills it. The
// invocation's own deadline still bounds the call as a whole.
const AttemptTimeout = 10 * time.Second

// Load reads the standard configuration (it honours AWS_ENDPOINT_URL, so
// the same binary runs against moto server) with the retry policy of
// NewRetryer, its attempts Paced (a limiter per client and operation,
// since the SDK calls this function once per client), and each attempt
// bounded by AttemptTimeout. opts come after those defaults, so
// WithAttemptTimeout or config.WithRetryer replace them.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append([]func(*config.LoadOptions) error{
		WithAttemptTimeout(AttemptTimeout),
		config.WithRetryer(func() aws.Retryer { return NewPaced(NewRetryer(0)) }),
	}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// NewRetryer is the SDK's standard retryer with MaxAttempts attempts,
// exponential backoff with jitter up to maxBackoff (the SDK's 20 s when
// zero; tests shorten it) and the client-side retry quota off: a backfill
// that meets sustained throttling must keep backing off, not fail with
// "retry quota exceeded". Load paces it (NewPaced); bare, as the fault
// tests use it, its attempts are not paced.
func NewRetryer(maxBackoff time.Duration) aws.RetryerV2 {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.RateLimiter = ratelimit.None
		if maxBackoff > 0 {
			o.MaxBackoff = maxBackoff
		}
	})
}

// HTTPClient is the SDK's default HTTP client with every attempt bounded by
// timeout. An attempt that times out fails as a send error, which the
// retryer retries; a context that ends is not retried.
func HTTPClient(timeout time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(timeout)
}

// WithAttemptTimeout is a Load option that bounds every attempt by timeout.
func WithAttemptTimeout(timeout time.Duration) func(*config.LoadOptions) error {
	return func(o *config.LoadOptions) error {
		o.HTTPClient = HTTPClient(timeout)
		return nil
	}
}
