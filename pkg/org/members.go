// Package org is what an organisation's hub needs to enforce in its member
// accounts: which accounts are members (listed, or found under
// organizational units with AWS Organizations), and the AWS configuration
// that reaches each, with the member role's credentials, assumed with STS
// and cached until they expire.
package org

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Organizations are the AWS Organizations calls membership makes; they
// answer only in the management account or a delegated administrator.
type Organizations interface {
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, opts ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, opts ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, opts ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
}

// Members decides which accounts are members: the listed Accounts, and
// the active accounts under the listed OUs, nested ones included, but for
// the organisation's management account. The accounts of OUs are read
// again at most every TTL, and when an account that is not among them is
// asked about and the list is older than MissAfter, so a new account is
// covered within a minute of its first event rather than a TTL.
//
// Service-managed StackSets never deploy to the management account, even
// under a targeted OU or the root, so it has no member role and every
// sweep would fail there: found under OUs, it is left out, unless it is
// OwnAccount, which the function reaches with its own role. Listed in
// Accounts, it is a member: its operator deployed the member stack there.
type Members struct {
	Accounts []string
	// OUs are organizational units (ou-...) or the organisation's root
	// (r-...), which Organizations lists the same way.
	OUs []string
	// OwnAccount is the hub's own account.
	OwnAccount string
	// Logger, when set, hears of a management account Organizations
	// would not name.
	Logger        *slog.Logger
	Organizations Organizations
	TTL           time.Duration
	MissAfter     time.Duration
	// Now, when set, replaces time.Now.
	Now func() time.Time

	mu     sync.Mutex
	listed []string // the accounts of OUs, sorted
	at     time.Time
	// management is the organisation's management account, read once: an
	// organisation's management account never changes.
	management string
	// warned says the refusal to name it was logged.
	warned bool
}

// List returns every member account, sorted.
func (m *Members) List(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refreshOrKeep(ctx); err != nil {
		return nil, err
	}
	all := slices.Concat(m.Accounts, m.listed)
	slices.Sort(all)
	return slices.Compact(all), nil
}

// Contains reports whether account is a member.
func (m *Members) Contains(ctx context.Context, account string) (bool, error) {
	if slices.Contains(m.Accounts, account) {
		return true, nil
	}
	if len(m.OUs) == 0 {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refreshOrKeep(ctx); err != nil {
		return false, err
	}
	if _, found := slices.BinarySearch(m.listed, account); found {
		return true, nil
	}
	if err := m.refresh(ctx, m.MissAfter); err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(m.listed, account)
	return found, nil
}

// refreshOrKeep reads the accounts of the OUs again after TTL; when that
// fails (the management account's read included) and a list was read
// before, it keeps that one: Organizations throttling or down must not
// refuse every known member's events. m.mu is held.
func (m *Members) refreshOrKeep(ctx context.Context) error {
	err := m.refresh(ctx, m.TTL)
	if err != nil && !m.at.IsZero() {
		return nil
	}
	return err
}

// refresh reads the accounts of the OUs again when the last read is older
// than maxAge (or there was none). m.mu is held.
func (m *Members) refresh(ctx context.Context, maxAge time.Duration) error {
	if len(m.OUs) == 0 {
		return nil
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	if !m.at.IsZero() && now().Sub(m.at) < maxAge {
		return nil
	}
	if m.management == "" {
		management, err := m.managementAccount(ctx)
		var denied *types.AccessDeniedException
		switch {
		case errors.As(err, &denied):
			// An SCP or a boundary refuses this one call: the accounts
			// are still read, and the management account stays among
			// them; its items fail where no member role is, each
			// dead-lettered with why, rather than every member's events
			// refused. Said once; asked again at each read.
			if !m.warned && m.Logger != nil {
				m.Logger.WarnContext(ctx, "organisation's management account unknown: not left out of the members", "error", err.Error())
			}
			m.warned = true
		case err != nil:
			return err
		}
		m.management = management
	}
	var accounts []string
	for _, ou := range m.OUs {
		found, err := m.accountsUnder(ctx, ou)
		if err != nil {
			return fmt.Errorf("member accounts of %s: %w", ou, err)
		}
		accounts = append(accounts, found...)
	}
	if m.management != "" && m.management != m.OwnAccount {
		accounts = slices.DeleteFunc(accounts, func(a string) bool { return a == m.management })
	}
	slices.Sort(accounts)
	m.listed, m.at = slices.Compact(accounts), now()
	return nil
}

// managementAccount asks Organizations for the organisation's management
// account.
func (m *Members) managementAccount(ctx context.Context) (string, error) {
	out, err := m.Organizations.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", fmt.Errorf("the organisation's management account: %w", err)
	}
	if out.Organization == nil || aws.ToString(out.Organization.MasterAccountId) == "" {
		return "", errors.New("the organisation's management account: DescribeOrganization named none")
	}
	return aws.ToString(out.Organization.MasterAccountId), nil
}

// accountsUnder lists the active accounts under parent and its child OUs.
func (m *Members) accountsUnder(ctx context.Context, parent string) ([]string, error) {
	var accounts []string
	pa := organizations.NewListAccountsForParentPaginator(m.Organizations, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
	for pa.HasMorePages() {
		page, err := pa.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Accounts {
			// A suspended or closing account has no repositories to keep.
			// State replaces Status (retired by AWS in September 2026);
			// an answer that carries only Status is read by it.
			if a.State == types.AccountStateActive || a.State == "" && a.Status == types.AccountStatusActive {
				accounts = append(accounts, aws.ToString(a.Id))
			}
		}
	}
	po := organizations.NewListOrganizationalUnitsForParentPaginator(m.Organizations, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
	for po.HasMorePages() {
		page, err := po.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, ou := range page.OrganizationalUnits {
			found, err := m.accountsUnder(ctx, aws.ToString(ou.Id))
			if err != nil {
				return nil, err
			}
			accounts = append(accounts, found...)
		}
	}
	return accounts, nil
}
