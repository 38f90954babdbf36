package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/org"
)

// How long a hub trusts its list of the member accounts under its OUs,
// and how soon an event from an account not on it reads the list again.
const (
	membersTTL       = 15 * time.Minute
	membersMissAfter = time.Minute
)

// members are the member accounts of an organisation's hub
// (handler.Members): each account's registry in each covered region,
// built once and kept, its credentials refreshed by their cache.
type members struct {
	accounts *org.Members
	access   *org.Access
	// selfRole is the function's own role (SELF_ROLE_ARN), which makes
	// its writes in its own account, in every region.
	selfRole string
	regions  []string
	build    func(cfg aws.Config, account, region, role string) handler.Registry

	mu    sync.Mutex
	built map[handler.Target]handler.Registry
}

func newMembers(cfg envconfig.Config, awsCfg aws.Config, account string, logger *slog.Logger,
	build func(cfg aws.Config, account, region, role string) handler.Registry) *members {
	regions := cfg.MemberRegions
	if len(regions) == 0 {
		regions = []string{awsCfg.Region}
	}
	return &members{
		accounts: &org.Members{Accounts: cfg.MemberAccounts, OUs: cfg.MemberOrganizationalUnits, OwnAccount: account,
			Organizations: organizations.NewFromConfig(awsCfg), TTL: membersTTL, MissAfter: membersMissAfter, Logger: logger},
		access:   &org.Access{Base: awsCfg, OwnAccount: account, RoleName: cfg.MemberRoleName, Partition: partitionOf(cfg.SelfRoleARN)},
		selfRole: cfg.SelfRoleARN,
		regions:  regions,
		build:    build,
		built:    map[handler.Target]handler.Registry{},
	}
}

// Registry is a member's registry in a covered region; anything else is
// refused with the setting that would cover it.
func (m *members) Registry(ctx context.Context, account, region string) (handler.Registry, error) {
	if !slices.Contains(m.regions, region) {
		return handler.Registry{}, fmt.Errorf("region %s is not covered: MEMBER_REGIONS is %s", region, strings.Join(m.regions, ","))
	}
	ok, err := m.accounts.Contains(ctx, account)
	if err != nil {
		return handler.Registry{}, err
	}
	if !ok {
		return handler.Registry{}, errors.New("not a member account: neither in MEMBER_ACCOUNTS nor under MEMBER_ORGANIZATIONAL_UNITS " +
			"(the organisation's management account only when in MEMBER_ACCOUNTS)")
	}
	t := handler.Target{Account: account, Region: region}
	m.mu.Lock()
	reg, found := m.built[t]
	m.mu.Unlock()
	if found {
		return reg, nil
	}
	cfg, err := m.access.Config(ctx, account, region)
	if err != nil {
		return handler.Registry{}, err
	}
	reg = m.build(cfg, account, region, m.ownRole(account))
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, raced := m.built[t]; raced {
		return prev, nil
	}
	m.built[t] = reg
	return reg, nil
}

// ownRole is the role whose writes in account are the function's own: the
// member role in a member account, but in the hub's own account (a member
// in its other regions) the function's role, since org.Access reaches it
// with the function's own credentials.
func (m *members) ownRole(account string) string {
	if account == m.access.OwnAccount {
		return m.selfRole
	}
	return m.access.RoleARN(account)
}

// Targets are every member account in every covered region.
func (m *members) Targets(ctx context.Context) ([]handler.Target, error) {
	accounts, err := m.accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	var targets []handler.Target
	for _, a := range accounts {
		for _, r := range m.regions {
			targets = append(targets, handler.Target{Account: a, Region: r})
		}
	}
	return targets, nil
}

// partitionOf is the partition of an IAM role ARN, "aws" when arn is not
// one.
func partitionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 3); len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}
