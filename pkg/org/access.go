package org

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// SessionName names the function's sessions in member accounts, as
// CloudTrail records them.
const SessionName = "ecr-baseline"

// Access gives the AWS configuration that reaches a member account in a
// region: the function's own for its own account, otherwise the member
// role's credentials, assumed with STS and cached per account until they
// expire (aws.CredentialsCache refreshes them ahead of expiry).
type Access struct {
	Base       aws.Config
	OwnAccount string
	RoleName   string
	// Partition is the ARN partition ("aws" when empty).
	Partition string

	mu    sync.Mutex
	creds map[string]*aws.CredentialsCache
}

// RoleARN is the member role of account: its writes there are the
// function's own.
func (a *Access) RoleARN(account string) string {
	partition := a.Partition
	if partition == "" {
		partition = "aws"
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, a.RoleName)
}

// Config is the configuration for account in region. The role is assumed
// here, once per account until its credentials expire, so a role that is
// missing or does not trust the function fails with a message that says
// so, before any ECR call.
func (a *Access) Config(ctx context.Context, account, region string) (aws.Config, error) {
	cfg := a.Base.Copy()
	cfg.Region = region
	if account == a.OwnAccount {
		return cfg, nil
	}
	a.mu.Lock()
	if a.creds == nil {
		a.creds = map[string]*aws.CredentialsCache{}
	}
	cache, ok := a.creds[account]
	if !ok {
		role := a.RoleARN(account)
		cache = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(a.Base), role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = SessionName
		}), func(o *aws.CredentialsCacheOptions) {
			// Refreshed a few minutes early (the SDK's own window), so no
			// call runs on credentials that expire under it: ExpiredToken
			// is not retried.
			o.ExpiryWindow = 5 * time.Minute
			o.ExpiryWindowJitterFrac = 0.5
		})
		a.creds[account] = cache
	}
	a.mu.Unlock()
	if _, err := cache.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("assume %s: %w (is the member stack deployed in account %s, trusting this function's role?)", a.RoleARN(account), err, account)
	}
	cfg.Credentials = cache
	return cfg, nil
}
