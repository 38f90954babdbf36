package org

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

// motoOrg is an organisation on moto, created by moto's default account,
// which becomes its management account: the root, an OU prod with a
// nested OU prod-eu, an OU sandbox, and accounts in each.
type motoOrg struct {
	client                     *organizations.Client
	counter                    *moto.Counter
	management, root           string
	prod, prodEU, sandbox      string
	hub, web, api, closed, lab string
}

func newMotoOrg(t *testing.T) motoOrg {
	t.Helper()
	ctx := context.Background()
	o := motoOrg{counter: &moto.Counter{}}
	cfg, err := server.Fresh(ctx, o.counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	o.client = organizations.NewFromConfig(cfg)
	created, err := o.client.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	o.management = aws.ToString(created.Organization.MasterAccountId)
	roots, err := o.client.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("roots %+v, %v; want one", roots, err)
	}
	o.root = aws.ToString(roots.Roots[0].Id)
	o.prod = o.newOU(t, o.root, "prod")
	o.prodEU = o.newOU(t, o.prod, "prod-eu")
	o.sandbox = o.newOU(t, o.root, "sandbox")
	// The hub stands for a security tooling account, a delegated
	// administrator; moto answers Organizations' list calls in the
	// management account only, so the calls are still the management's.
	o.hub = o.newAccount(t, o.root, "hub")
	o.web = o.newAccount(t, o.prod, "web")
	o.api = o.newAccount(t, o.prodEU, "api")
	o.closed = o.newAccount(t, o.prodEU, "closed")
	o.lab = o.newAccount(t, o.sandbox, "lab")
	if _, err := o.client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(o.closed)}); err != nil {
		t.Fatal(err)
	}
	o.counter.Reset()
	return o
}

func (o motoOrg) newOU(t *testing.T, parent, name string) string {
	t.Helper()
	out, err := o.client.CreateOrganizationalUnit(context.Background(), &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.OrganizationalUnit.Id)
}

// newAccount creates an account, which joins under the root, and moves it
// to parent.
func (o motoOrg) newAccount(t *testing.T, parent, name string) string {
	t.Helper()
	ctx := context.Background()
	out, err := o.client.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	if parent != o.root {
		if _, err := o.client.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
			SourceParentId: aws.String(o.root), DestinationParentId: aws.String(parent)}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// TestMembersOnMoto: the accounts under an OU, a nested OU and the root,
// read through the real SDK from moto's Organizations: active accounts
// only, nested OUs included, and the management account left out unless
// listed or the hub's own.
func TestMembersOnMoto(t *testing.T) {
	o := newMotoOrg(t)
	sorted := func(accounts ...string) []string { return slices.Sorted(slices.Values(accounts)) }
	tests := []struct {
		name     string
		accounts []string
		ous      []string
		own      string
		want     []string
	}{
		{"an OU, its nested OU included, its closed account not", nil, []string{o.prod}, o.hub, sorted(o.web, o.api)},
		{"a nested OU", nil, []string{o.prodEU}, o.hub, sorted(o.api)},
		{"the root: every active account but the management account", nil, []string{o.root}, o.hub, sorted(o.hub, o.web, o.api, o.lab)},
		{"the root and an OU in it", nil, []string{o.root, o.sandbox}, o.hub, sorted(o.hub, o.web, o.api, o.lab)},
		{"the root, the management account listed", []string{o.management}, []string{o.root}, o.hub, sorted(o.management, o.hub, o.web, o.api, o.lab)},
		{"the root, the hub in the management account", nil, []string{o.root}, o.management, sorted(o.management, o.hub, o.web, o.api, o.lab)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := &Members{Accounts: tt.accounts, OUs: tt.ous, OwnAccount: tt.own, Organizations: o.client}
			got, err := m.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			for _, account := range []string{o.management, o.closed} {
				want := slices.Contains(tt.want, account)
				if ok, err := m.Contains(ctx, account); err != nil || ok != want {
					t.Errorf("Contains(%s) = %v, %v; want %v", account, ok, err, want)
				}
			}
		})
	}
}

// TestMembersOnMotoReadTheManagementAccountOnce: every read lists the
// OUs again, but the management account is read once.
func TestMembersOnMotoReadTheManagementAccountOnce(t *testing.T) {
	o := newMotoOrg(t)
	m := &Members{OUs: []string{o.root}, OwnAccount: o.hub, Organizations: o.client}
	for range 2 {
		if _, err := m.List(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// A root with two OUs, one nested: four parents per read.
	if got := o.counter.Count("ListAccountsForParent"); got != 8 {
		t.Errorf("ListAccountsForParent called %d times in two reads, want 8", got)
	}
	if got := o.counter.Count("DescribeOrganization"); got != 1 {
		t.Errorf("DescribeOrganization called %d times in two reads, want once", got)
	}
}
