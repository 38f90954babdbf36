package enforcer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/baseline"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

// freshMoto resets moto and returns a configuration for it whose calls
// the returned counter counts.
func freshMoto(t *testing.T) (aws.Config, *moto.Counter) {
	t.Helper()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	counter := &moto.Counter{}
	cfg, err := server.Config(context.Background(), counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, counter
}

// TestEnforceOnMoto runs the enforcer through the real SDK against moto and
// counts the calls it makes for each repository.
func TestEnforceOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, counter := freshMoto(t)
	ecrClient, ssmClient := ecr.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	if _, err := ssmClient.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/policy"), Type: types.ParameterTypeSecureString, Value: aws.String(tmpl),
	}); err != nil {
		t.Fatal(err)
	}
	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`
	setup := map[string]string{"no-policy": "", "compliant": compliant, "foreign": foreign}
	for name, text := range setup {
		if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if text != "" {
			if _, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(text)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	loader := baseline.NewLoader(ssmClient, "/ecr-baseline/policy", time.Hour, policy.Guard{})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	wantDoc, err := policy.Parse(compliant)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		repo     string
		dryRun   bool
		want     Action
		wantSets int
	}{
		{"no-policy", true, WouldApply, 0},
		{"no-policy", false, Applied, 1},
		{"no-policy", false, Unchanged, 0}, // idempotent: the second run writes nothing
		{"compliant", false, Unchanged, 0},
		{"foreign", false, Applied, 1},
		{"deleted", false, Skipped, 0},
	}
	ssmCalls := 0
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			counter.Reset()
			defer func() { ssmCalls += counter.Count("GetParameter") }()
			e := &Enforcer{ECR: ecrClient, Baseline: loader, DryRun: tt.dryRun, Logger: quiet}
			res, err := e.Enforce(ctx, ecrevent.Repository{RegistryID: moto.AccountID, Region: moto.Region, Name: tt.repo})
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != tt.want {
				t.Fatalf("action = %s (%s), want %s", res.Action, res.Reason, tt.want)
			}
			if n := counter.Count("GetRepositoryPolicy"); n != 1 {
				t.Errorf("GetRepositoryPolicy calls = %d, want 1", n)
			}
			if n := counter.Count("SetRepositoryPolicy"); n != tt.wantSets {
				t.Errorf("SetRepositoryPolicy calls = %d, want %d", n, tt.wantSets)
			}
			if tt.repo == "deleted" || tt.dryRun {
				return
			}
			out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(tt.repo)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := policy.Parse(aws.ToString(out.PolicyText))
			if err != nil {
				t.Fatal(err)
			}
			if !policy.Equal(got, wantDoc) {
				t.Errorf("stored policy %s, want %s", got.Canonical(), wantDoc.Canonical())
			}
		})
	}
	if ssmCalls != 1 {
		t.Errorf("GetParameter calls for %d enforcements = %d, want 1 within the TTL", len(tests), ssmCalls)
	}
}

// TestMergeLockOutOnMoto stores a repository policy whose own statement
// locks the account out and enforces it in merge mode. moto ignores force,
// so only the guard stops the write: without Force the repository fails
// and keeps its policy; with Force the merged policy is written.
func TestMergeLockOutOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, counter := freshMoto(t)
	ecrClient := ecr.NewFromConfig(cfg)
	const name = "team-a/locked"
	if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(lockOut)}); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		t.Helper()
		out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.PolicyText)
	}
	target := ecrevent.Repository{RegistryID: moto.AccountID, Region: moto.Region, Name: name}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))

	counter.Reset()
	e := &Enforcer{ECR: ecrClient, Baseline: fixedBaseline{text: tmpl}, Mode: Merge, Logger: quiet}
	res, err := e.Enforce(ctx, target)
	if !errors.Is(err, policy.ErrLockOut) || res.Action != Failed || res.Reason != "merged policy: "+lockOutMsg {
		t.Errorf("without force: %+v, %v; want failed with the merged lock-out", res, err)
	}
	if n := counter.Count("SetRepositoryPolicy"); n != 0 || stored() != lockOut {
		t.Errorf("without force: %d writes, stored %s; want none, the policy as it was", n, stored())
	}

	e.Force = true
	if res, err := e.Enforce(ctx, target); err != nil || res.Action != Applied {
		t.Fatalf("with force: %+v, %v; want applied", res, err)
	}
	got, err := policy.Parse(stored())
	if err != nil {
		t.Fatal(err)
	}
	base, err := policy.Parse(strings.ReplaceAll(tmpl, "${AccountId}", moto.AccountID))
	if err != nil {
		t.Fatal(err)
	}
	if !policy.Contains(got, base) || len(got.Statement) != 2 {
		t.Errorf("with force: stored %s; want the team's Deny kept beside the baseline", got.Canonical())
	}
}
