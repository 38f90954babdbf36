package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// caller asks STS, once per run, who the AWS configuration's credentials
// are. The CLI writes with them: a restore names their account in the
// archive keys it reads, and, without --function, the guardrails judge a
// baseline for the caller rather than for an unknown enforcer. nothing
// says what the run did not do when the call fails ("nothing enforced").
// When ok is false the run is over with code.
func (r *run[R, S]) caller(ctx context.Context, awsCfg aws.Config, nothing string) (id *sts.GetCallerIdentityOutput, code int, ok bool) {
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, r.fail(ExitIncomplete, errors.New(r.interrupted)), false
	case err != nil:
		return nil, r.fail(ExitFailed, fmt.Errorf("%s: %s: get caller identity: %w", r.Command, nothing, err)), false
	}
	return id, ExitOK, true
}
