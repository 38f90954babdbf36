package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ecr-baseline/ecr-baseline/events"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/org"
)

// The organisation the demo shows: the hub (moto's default account) and
// one member, in two regions.
const (
	member     = "111111111111"
	outsider   = "222222222222"
	memberRole = "ecr-baseline-member"
)

var orgRegions = []string{moto.Region, "eu-west-1"}

// organization runs a second function as an organisation's hub: one
// baseline, enforced in two accounts and two regions from the events
// their rules forward, and swept across all four targets.
func organization(ctx context.Context, srv *moto.Server, cfg aws.Config, bin string, logs io.Writer) error {
	fmt.Printf("== organisation mode: the hub %s also enforces in member %s, in %s\n", moto.AccountID, member, strings.Join(orgRegions, " and "))
	queues, err := moto.NewSweepQueues(ctx, sqs.NewFromConfig(cfg), "ecr-baseline-hub-sweeps", 5)
	if err != nil {
		return err
	}
	rt, err := runtimeapi.Start()
	if err != nil {
		return err
	}
	defer rt.Close()
	env := append(srv.Env(), "BASELINE_PARAMETER_NAME="+parameterName, "ARCHIVE_BUCKET="+archiveBucket,
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", "APPLY_TO_EXISTING_REPOSITORIES=true",
		// The hub lists its own account too, to be covered in every region.
		"MEMBER_ACCOUNTS="+moto.AccountID+","+member, "MEMBER_REGIONS="+strings.Join(orgRegions, ","), "MEMBER_ROLE_NAME="+memberRole)
	cmd, err := rt.Run(bin, append(env, queues.Env()...), logs)
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	param, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameterName)})
	if err != nil {
		return err
	}
	template := aws.ToString(param.Parameter.Value)
	// Operators in each account reach their registry as the member role
	// does: moto puts calls in the account of the role assumed.
	access := &org.Access{Base: cfg, OwnAccount: moto.AccountID, RoleName: memberRole}
	const repo = "team-c/svc"
	for _, account := range []string{moto.AccountID, member} {
		for _, region := range orgRegions {
			acfg, err := access.Config(ctx, account, region)
			if err != nil {
				return err
			}
			client := ecr.NewFromConfig(acfg)
			if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
				return fmt.Errorf("create %s in %s/%s: %w", repo, account, region, err)
			}
			event, err := forwarded(account, region, repo)
			if err != nil {
				return err
			}
			res, err := invoke(ctx, rt, event)
			if err != nil {
				return err
			}
			out, err := client.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
			if err != nil {
				return fmt.Errorf("read back %s in %s/%s: %w", repo, account, region, err)
			}
			if ok, err := (&fleet.Fleet{Template: template}).Holds(aws.ToString(out.PolicyText), account, region, repo); err != nil || !ok {
				return fmt.Errorf("%s in %s/%s holds %s, not the baseline rendered for it", repo, account, region, aws.ToString(out.PolicyText))
			}
			fmt.Printf("-> %s created in %s/%s, its event forwarded to the hub\n   %s\n   holds the baseline rendered for account %s\n", repo, account, region, res, account)
		}
	}
	fmt.Printf("-> an event forwarded from %s, which is no member\n", outsider)
	event, err := forwarded(outsider, moto.Region, repo)
	if err != nil {
		return err
	}
	if _, err := invoke(ctx, rt, event); err == nil {
		return fmt.Errorf("the hub enforced an event from %s, which is no member", outsider)
	} else {
		fmt.Printf("   error, so Lambda retries and the DLQ keeps it: %v\n", err)
	}
	fmt.Println("-> a manual sweep over every target: {\"action\":\"sweep\",\"dryRun\":true}")
	res, err := invoke(ctx, rt, []byte(`{"action":"sweep","dryRun":true}`))
	if err != nil {
		return err
	}
	fmt.Printf("   %s\n", res)
	return consume(ctx, rt, cfg, queues)
}

// forwarded is events/create-repository.json as account's rule in region
// forwards it to the hub's bus, for repository name.
func forwarded(account, region, name string) ([]byte, error) {
	b, err := events.FS.ReadFile("create-repository.json")
	if err != nil {
		return nil, err
	}
	moved, err := samples.Relocate(b, account, region)
	return []byte(strings.ReplaceAll(string(moved), "team-a/web", name)), err
}

// invoke sends payload to the function and returns its answer, or its
// error as an error.
func invoke(ctx context.Context, rt *runtimeapi.Server, payload []byte) (string, error) {
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := rt.Invoke(ictx, payload, time.Minute)
	if err != nil {
		return "", err
	}
	if res.Error != nil {
		return "", fmt.Errorf("%s", res.Error.ErrorMessage)
	}
	return string(res.Response), nil
}
