// Command demo runs ecr-baseline end to end on this machine: it starts moto
// server, stores the embedded default baseline in SSM, creates the
// repository the sample event names, sends the events/ samples through the
// real bootstrap binary under a Lambda Runtime API emulator in the order a
// repository's life brings them, and prints the policy moto then holds. It
// exits non-zero when any step ends otherwise than it should.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/events"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
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
	// The function writes its logs straight into a file (no copying
	// goroutine), which the demo reads whenever it shows them.
	logPath := filepath.Join(tmp, "function.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	// SELF_ROLE_ARN is the role the sample of the function's own write
	// names; the demo has opted in to applying a baseline change to the
	// existing repositories (the default only reports it).
	cmd, err := rt.Run(bin, append(srv.Env(), "BASELINE_PARAMETER_NAME="+parameterName,
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", "APPLY_TO_EXISTING_REPOSITORIES=true"), logFile)
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	changed := strings.Replace(policies.Baseline, `"ecr:BatchCheckLayerAvailability",`, "", 1)
	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	// failing marks the steps whose invocation must fail (so Lambda
	// retries it and the DLQ keeps it); any other outcome fails the demo.
	steps := []struct {
		say     string
		before  func() error
		event   string
		failing bool
	}{
		{say: "a repository is created", event: "create-repository.json"},
		{say: "EventBridge delivers the same event again", event: "create-repository.json"},
		{say: "a CreateRepository call that failed", event: "create-repository-failed.json"},
		{say: "someone replaces the policy (drift)", event: "set-repository-policy.json", before: func() error {
			_, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(foreign)})
			return err
		}},
		{say: "the function's own write comes back as an event", event: "set-repository-policy-by-enforcer.json"},
		{say: "someone deletes the policy (drift)", event: "delete-repository-policy.json", before: func() error {
			_, err := ecrClient.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String(repo)})
			return err
		}},
		{say: "a pull-through cache rule creates a repository", event: "create-repository-pull-through-cache.json", before: func() error {
			_, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("ecr-public/docker/library/nginx")})
			return err
		}},
		{say: "an ECR event the rule should never send", event: "not-ours.json", failing: true},
		{say: "a replication creates a repository in eu-west-1, another region than this function's", event: "create-repository-replication.json", failing: true},
		{say: "the baseline parameter changes: the fleet is re-enforced", event: "parameter-change.json", before: func() error {
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
		payload, err := fs.ReadFile(events.FS, st.event)
		if err != nil {
			return err
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ictx, payload, time.Minute)
		cancel()
		if err != nil {
			return fmt.Errorf("invoke with %s: %w\nfunction logs:\n%s", st.event, err, logs())
		}
		fmt.Printf("-> %s (events/%s)\n   ", st.say, st.event)
		switch {
		case res.Error != nil && st.failing:
			fmt.Printf("error, so Lambda retries and the DLQ keeps it: %s\n", res.Error.ErrorMessage)
		case res.Error != nil:
			return fmt.Errorf("%s: the function failed: %s\nfunction logs:\n%s", st.say, res.Error.ErrorMessage, logs())
		case st.failing:
			return fmt.Errorf("%s: the function answered %s, want an error", st.say, res.Response)
		default:
			fmt.Printf("%s\n", res.Response)
		}
	}
	fmt.Println("== function logs")
	fmt.Print(logs())

	out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	if err != nil {
		return fmt.Errorf("read back the policy: %w", err)
	}
	if ok, err := fleet.New(cfg, changed).Compliant(ctx, repo); err != nil || !ok {
		return fmt.Errorf("%s holds %s, not the changed baseline (%v)", repo, aws.ToString(out.PolicyText), err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(aws.ToString(out.PolicyText)), "", "  "); err != nil {
		return errors.Join(errors.New("moto returned a policy that is not JSON"), err)
	}
	fmt.Printf("== policy of %s, as GetRepositoryPolicy returns it from moto\n%s\n", repo, pretty.String())
	return nil
}
