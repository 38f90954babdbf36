// Command demo runs ecr-baseline end to end on this machine: it starts moto
// server, stores the embedded default baseline in SSM, creates the
// repository the sample event names, sends every events/ sample through the
// real bootstrap binary under a Lambda Runtime API emulator, and prints the
// policy moto then holds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	ecrClient := ecr.NewFromConfig(cfg)

	fmt.Printf("== storing the default baseline (policies/baseline.json) in SSM %s\n", parameterName)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
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
	cmd, err := rt.Run(bin, append(srv.Env(), "BASELINE_PARAMETER_NAME="+parameterName), &logs)
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	files, err := filepath.Glob("events/*.json")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no events/*.json samples (run from the repository root): %v", err)
	}
	// The first sample again at the end shows a repeated delivery is a no-op.
	files = append(files, "events/create-repository.json")
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ictx, payload, time.Minute)
		cancel()
		if err != nil {
			return fmt.Errorf("invoke with %s: %w\nfunction logs:\n%s", f, err, logs.String())
		}
		if res.Error != nil {
			fmt.Printf("-> %-34s error (Lambda retries, then the DLQ keeps it): %s\n", f, res.Error.ErrorMessage)
			continue
		}
		fmt.Printf("-> %-34s %s\n", f, res.Response)
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
