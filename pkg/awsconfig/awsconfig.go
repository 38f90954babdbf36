// Package awsconfig loads the AWS SDK configuration the function and the
// CLI share, with a retry policy suited to bulk enforcement.
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// MaxAttempts is how many times one call is tried before its error is
// returned: enough backoff to ride out a burst of throttling or 5xx.
const MaxAttempts = 8

// Load reads the standard configuration (it honours AWS_ENDPOINT_URL, so
// the same binary runs against moto server) with a standard retryer whose
// client-side retry quota is off: a backfill that meets sustained
// throttling must keep backing off, not fail with "retry quota exceeded".
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = MaxAttempts
			o.RateLimiter = ratelimit.None
		})
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}
