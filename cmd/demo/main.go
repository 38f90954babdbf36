// Command demo runs ecr-baseline end to end on this machine: it starts moto
// server, stores the embedded default baseline in SSM, creates the
// repository the sample event names, sends the events/ samples through the
// real bootstrap binary under a Lambda Runtime API emulator in the order a
// repository's life brings them, and prints the policy moto then holds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

const parameterName = "/ecr-baseline/baseline-policy"

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	fmt.Println("== starting moto server (stand-in for AWS)")
	srv, err := moto.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()
	cfg, err := srv.Config(ctx)
	if err != nil {
		return err
	}
	ecrClient, ssmClient := ecr.NewFromConfig(cfg), ssm.NewFromConfig(cfg)

	fmt.Printf("== storing the default baseline (policies/baseline.json) in SSM %s\n", parameterName)
	if _, err := ssmClient.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(parameterName), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		return fmt.Errorf("put parameter: %w", err)
	}
	const repo = "team-a/web"
	fmt.Printf("== creating repository %s\n", repo)
	if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		return fmt.Errorf("create repository: %w", err)
	}

	tmp, err := os.MkdirTemp("", "ecr-baseline-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Println("== building bootstrap and starting it under the Lambda Runtime API emulator")
	bin, err := runtimeapi.BuildBootstrap("github.com/ecr-baseline/ecr-baseline/functions/enforcer", tmp)
	if err != nil {
		return err
	}
	rt, err := runtimeapi.Start()
	if err != nil {
		return err
	}
	defer rt.Close()
	var logs bytes.Buffer
	// SELF_ROLE_ARN is the role the sample of the function's own write names.
	cmd, err := rt.Run(bin, append(srv.Env(), "BASELINE_PARAMETER_NAME="+parameterName,
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole"), &logs)
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	steps := []struct {
		say    string
		before func() error
		event  string
	}{
		{say: "a repository is created", event: "create-repository.json"},
		{say: "EventBridge delivers the same event again", event: "create-repository.json"},
		{say: "a CreateRepository call that failed", event: "create-repository-failed.json"},
		{say: "someone replaces the policy (drift)", event: "set-repository-policy.json", before: func() error {
			_, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(foreign)})
			return err
		}},
		{say: "the function's own write comes back as an event", event: "set-repository-policy-by-enforcer.json"},
		{say: "a pull-through cache rule creates a repository", event: "create-repository-pull-through-cache.json", before: func() error {
			_, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("ecr-public/docker/library/nginx")})
			return err
		}},
		{say: "an ECR event the rule should never send", event: "not-ours.json"},
		{say: "the baseline parameter changes: the fleet is re-enforced", event: "parameter-change.json", before: func() error {
			changed := strings.Replace(policies.Baseline, `"ecr:BatchCheckLayerAvailability",`, "", 1)
			_, err := ssmClient.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(parameterName), Type: types.ParameterTypeString, Value: aws.String(changed), Overwrite: aws.Bool(true)})
			return err
		}},
	}
	for _, st := range steps {
		if st.before != nil {
			if err := st.before(); err != nil {
				return fmt.Errorf("%s: %w", st.say, err)
			}
		}
		payload, err := os.ReadFile(filepath.Join("events", st.event))
		if err != nil {
			return fmt.Errorf("%w (run from the repository root)", err)
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ictx, payload, time.Minute)
		cancel()
		if err != nil {
			return fmt.Errorf("invoke with %s: %w\nfunction logs:\n%s", st.event, err, logs.String())
		}
		fmt.Printf("-> %s (events/%s)\n   ", st.say, st.event)
		if res.Error != nil {
			fmt.Printf("error, so Lambda retries and the DLQ keeps it: %s\n", res.Error.ErrorMessage)
			continue
		}
		fmt.Printf("%s\n", res.Response)
	}
	fmt.Println("== function logs")
	fmt.Print(logs.String())

	out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	if err != nil {
		return fmt.Errorf("read back the policy: %w", err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(aws.ToString(out.PolicyText)), "", "  "); err != nil {
		return errors.Join(errors.New("moto returned a policy that is not JSON"), err)
	}
	fmt.Printf("== policy of %s, as GetRepositoryPolicy returns it from moto\n%s\n", repo, pretty.String())
	return nil
}
