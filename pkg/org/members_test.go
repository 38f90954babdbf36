package org

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/google/go-cmp/cmp"
)

// fakeOrg is an organisation tree: accounts and child OUs per parent, and
// its management account.
type fakeOrg struct {
	accounts    map[string][]types.Account
	children    map[string][]string
	management  string
	calls       int
	describes   int
	err         error
	describeErr error
}

func (f *fakeOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	f.describes++
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &organizations.DescribeOrganizationOutput{Organization: &types.Organization{MasterAccountId: aws.String(f.management)}}, nil
}

func (f *fakeOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &organizations.ListAccountsForParentOutput{Accounts: f.accounts[aws.ToString(in.ParentId)]}, nil
}

func (f *fakeOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	var ous []types.OrganizationalUnit
	for _, id := range f.children[aws.ToString(in.ParentId)] {
		ous = append(ous, types.OrganizationalUnit{Id: aws.String(id)})
	}
	return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: ous}, nil
}

func account(id string, status types.AccountStatus) types.Account {
	return types.Account{Id: aws.String(id), Status: status}
}

// accountInState is an account as Organizations answers since Status was
// retired: State only.
func accountInState(id string, state types.AccountState) types.Account {
	return types.Account{Id: aws.String(id), State: state}
}

func TestMembers(t *testing.T) {
	const management = "555555555555"
	tree := func() *fakeOrg {
		return &fakeOrg{
			accounts: map[string][]types.Account{
				"r-root":     {account(management, types.AccountStatusActive)},
				"ou-prod":    {account("111111111111", types.AccountStatusActive), account("222222222222", types.AccountStatusSuspended)},
				"ou-prod-eu": {account("333333333333", types.AccountStatusActive)},
			},
			children:   map[string][]string{"r-root": {"ou-prod"}, "ou-prod": {"ou-prod-eu"}},
			management: management,
		}
	}
	// withoutManagement is the tree where DescribeOrganization fails
	// with err, or names no account.
	withoutManagement := func(err error) *fakeOrg {
		f := tree()
		f.management, f.describeErr = "", err
		return f
	}
	tests := []struct {
		name     string
		m        *Members
		wantList []string
		ask      map[string]bool
		wantErr  string
	}{
		{name: "listed accounts only: no Organizations call", m: &Members{Accounts: []string{"444444444444", "111111111111"}},
			wantList: []string{"111111111111", "444444444444"}, ask: map[string]bool{"444444444444": true, "555555555555": false}},
		{name: "an OU's active accounts, nested OUs included, suspended ones left out", m: &Members{OUs: []string{"ou-prod"}, Organizations: tree()},
			wantList: []string{"111111111111", "333333333333"},
			ask:      map[string]bool{"111111111111": true, "222222222222": false, "333333333333": true}},
		{name: "both", m: &Members{Accounts: []string{"111111111111", "999999999999"}, OUs: []string{"ou-prod-eu"}, Organizations: tree()},
			wantList: []string{"111111111111", "333333333333", "999999999999"}},
		{name: "the root: every active account but the management account", m: &Members{OUs: []string{"r-root"}, OwnAccount: "111111111111", Organizations: tree()},
			wantList: []string{"111111111111", "333333333333"}, ask: map[string]bool{management: false, "333333333333": true}},
		{name: "the management account listed as well", m: &Members{Accounts: []string{management}, OUs: []string{"r-root"}, Organizations: tree()},
			wantList: []string{"111111111111", "333333333333", management}, ask: map[string]bool{management: true}},
		{name: "the management account is the hub's", m: &Members{OUs: []string{"r-root"}, OwnAccount: management, Organizations: tree()},
			wantList: []string{"111111111111", "333333333333", management}, ask: map[string]bool{management: true}},
		{name: "State, not the retired Status, decides", m: &Members{OUs: []string{"ou-new"}, Organizations: &fakeOrg{management: management, accounts: map[string][]types.Account{
			"ou-new": {accountInState("111111111111", types.AccountStateActive), accountInState("222222222222", types.AccountStateSuspended),
				accountInState("333333333333", types.AccountStateClosed), accountInState("444444444444", types.AccountStatePendingClosure)}}}},
			wantList: []string{"111111111111"}, ask: map[string]bool{"222222222222": false}},
		{name: "Organizations refuses", m: &Members{OUs: []string{"ou-prod"}, Organizations: &fakeOrg{management: management, err: errors.New("AccessDeniedException")}},
			wantErr: "member accounts of ou-prod: AccessDeniedException"},
		// Without the management account the accounts are still members:
		// its items fail, visibly, rather than every member's events.
		{name: "Organizations refuses to name the management account", m: &Members{OUs: []string{"r-root"}, Organizations: withoutManagement(&types.AccessDeniedException{Message: aws.String("denied by SCP")})},
			wantList: []string{"111111111111", "333333333333", management}, ask: map[string]bool{management: true}},
		// Anything else (throttled, down) is an error as for the lists:
		// a list read before is kept (refreshOrKeep).
		{name: "Organizations fails to name the management account", m: &Members{OUs: []string{"r-root"}, Organizations: withoutManagement(errors.New("TooManyRequestsException"))},
			wantErr: "the organisation's management account: TooManyRequestsException"},
		{name: "Organizations names no management account", m: &Members{OUs: []string{"r-root"}, Organizations: withoutManagement(nil)},
			wantErr: "the organisation's management account: DescribeOrganization named none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.List(context.Background())
			if (tt.wantErr == "") != (err == nil) || err != nil && err.Error() != tt.wantErr {
				t.Fatalf("List error = %v, want %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantList, got); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			for acct, want := range tt.ask {
				if ok, err := tt.m.Contains(context.Background(), acct); err != nil || ok != want {
					t.Errorf("Contains(%s) = %v, %v; want %v", acct, ok, err, want)
				}
			}
		})
	}
}

// TestMembersRereadOUs: the accounts of OUs are read again after TTL, and
// a miss reads them again once MissAfter has passed, so a new account is
// covered soon after its first event; the management account is read
// once. The clock is injected.
func TestMembersRereadOUs(t *testing.T) {
	org := &fakeOrg{accounts: map[string][]types.Account{"ou-a": {account("111111111111", types.AccountStatusActive)}}, management: "555555555555"}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	m := &Members{OUs: []string{"ou-a"}, Organizations: org, TTL: time.Hour, MissAfter: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	if ok, _ := m.Contains(ctx, "111111111111"); !ok || org.calls != 1 {
		t.Fatalf("first ask: %v after %d calls", ok, org.calls)
	}
	// A new account joins; asked about at once, the list is too fresh to read again.
	org.accounts["ou-a"] = append(org.accounts["ou-a"], account("222222222222", types.AccountStatusActive))
	if ok, _ := m.Contains(ctx, "222222222222"); ok || org.calls != 1 {
		t.Errorf("a second later: member %v after %d calls, want not yet and no new read", ok, org.calls)
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := m.Contains(ctx, "222222222222"); !ok || org.calls != 2 {
		t.Errorf("two minutes later: member %v after %d calls, want a member after one more read", ok, org.calls)
	}
	if ok, _ := m.Contains(ctx, "111111111111"); !ok || org.calls != 2 {
		t.Errorf("a hit within the TTL read again: %d calls", org.calls)
	}
	now = now.Add(time.Hour)
	if _, err := m.List(ctx); err != nil || org.calls != 3 {
		t.Errorf("after the TTL: %v, %d calls, want a third read", err, org.calls)
	}
	if org.describes != 1 {
		t.Errorf("DescribeOrganization called %d times in three reads, want once", org.describes)
	}
	// Organizations fails after the TTL: the members known stay members.
	now = now.Add(time.Hour)
	org.err = errors.New("TooManyRequestsException")
	if ok, err := m.Contains(ctx, "111111111111"); !ok || err != nil {
		t.Errorf("a known member while Organizations fails: %v, %v; want still a member", ok, err)
	}
}

// TestManagementRefusedWarnsOnce: while Organizations refuses to name the
// management account, every read asks again and keeps it among the
// members, and the refusal is logged once, not at every read.
func TestManagementRefusedWarnsOnce(t *testing.T) {
	org := &fakeOrg{accounts: map[string][]types.Account{"r-root": {account("555555555555", types.AccountStatusActive)}},
		describeErr: &types.AccessDeniedException{Message: aws.String("denied by SCP")}}
	var logged bytes.Buffer
	m := &Members{OUs: []string{"r-root"}, Organizations: org, Logger: slog.New(slog.NewJSONHandler(&logged, nil))}
	for range 3 {
		got, err := m.List(context.Background())
		if err != nil || !slices.Equal(got, []string{"555555555555"}) {
			t.Fatalf("List = %v, %v; want the management account kept", got, err)
		}
	}
	if org.describes != 3 {
		t.Errorf("DescribeOrganization called %d times in three reads, want 3", org.describes)
	}
	if n := strings.Count(logged.String(), `"level":"WARN","msg":"organisation's management account unknown: not left out of the members"`); n != 1 {
		t.Errorf("logged %d warnings, want 1:\n%s", n, logged.String())
	}
}
