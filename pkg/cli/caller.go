package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// guardOnly is caller's nothing for a run that asks only to sharpen its
// guard (backfill, check): without the caller's identity the guard judges
// with the account unknown, stricter, never weaker. So when STS cannot
// say (no STS endpoint reachable, say), the run says so in one line on
// stderr and goes on with no identity; only an interrupt ends it.
const guardOnly = ""

// caller asks STS, once per run, who the AWS configuration's credentials
// are. The CLI writes with them: a restore names their account in the
// archive keys it reads, and, without --function, the guardrails judge a
// baseline for the caller rather than for an unknown enforcer. nothing
// says what the run did not do when the call fails ("nothing enforced").
// When ok is false the run is over with code.
//
// Only a restore needs the answer: backfill and check pass guardOnly.
func (r *run[R, S]) caller(ctx context.Context, awsCfg aws.Config, nothing string) (id *sts.GetCallerIdentityOutput, code int, ok bool) {
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, r.fail(ExitIncomplete, errors.New(r.interrupted)), false
	case err != nil && nothing == guardOnly:
		fmt.Fprintf(r.stderr, "%s: caller not identified, so the baseline is judged with the account unknown (a literal account ID is taken as outside it, a Deny on any principal of the account as a possible lock-out): get caller identity: %v\n", r.Command, err)
		return nil, ExitOK, true
	case err != nil:
		return nil, r.fail(ExitFailed, fmt.Errorf("%s: %s: get caller identity: %w", r.Command, nothing, err)), false
	}
	return id, ExitOK, true
}
