package handler

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// Registry is one account's registry in one region, as the function
// reaches it.
type Registry struct {
	// Enforcer writes; DryRunEnforcer only reports.
	Enforcer, DryRunEnforcer Enforcer
	// Lister lists its repositories for a sweep.
	Lister sweep.Lister
	// OwnRoleARN is the role whose policy writes there are the function's
	// own: its role at home and anywhere in its own account, the member
	// role in another member account.
	OwnRoleARN string
}

// Target is an account and region a sweep covers.
type Target struct{ Account, Region string }

// Members are an organisation's member accounts, for a hub (organisation
// mode).
type Members interface {
	// Registry is account's registry in region, or an error that says why
	// the function does not enforce there: not a member, a region not
	// covered, a member role it cannot assume.
	Registry(ctx context.Context, account, region string) (Registry, error)
	// Targets are every member account in every covered region.
	Targets(ctx context.Context) ([]Target, error)
}

// registry is where the function enforces account's repositories in
// region: its own registry, or in organisation mode a member's. Without
// Members it is always its own, whose enforcer refuses a repository
// elsewhere (enforcer.ErrElsewhere).
func (h *Handler) registry(ctx context.Context, account, region string) (Registry, error) {
	if h.Members == nil || account == h.AccountID && region == h.Region {
		return Registry{Enforcer: h.Enforcer, DryRunEnforcer: h.DryRunEnforcer, Lister: h.Lister, OwnRoleARN: h.SelfRoleARN}, nil
	}
	reg, err := h.Members.Registry(ctx, account, region)
	if err != nil {
		return Registry{}, fmt.Errorf("account %s in %s: %w", account, region, err)
	}
	return reg, nil
}

// targets are the registries a sweep covers: the function's own, and in
// organisation mode every member's in every covered region.
func (h *Handler) targets(ctx context.Context) ([]Target, error) {
	own := []Target{{h.AccountID, h.Region}}
	if h.Members == nil {
		return own, nil
	}
	members, err := h.Members.Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("member accounts: %w", err)
	}
	all := append(own, members...)
	slices.SortFunc(all, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return slices.Compact(all), nil
}
