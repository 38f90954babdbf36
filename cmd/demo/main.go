// Command demo runs ecr-baseline end to end on this machine: it starts moto
// server, stores the embedded default baseline in SSM, creates the
// repository the sample event names, sends the events/ samples through the
// real bootstrap binary under a Lambda Runtime API emulator in the order a
// repository's life brings them, consumes the sweeps a baseline change and
// a manual request queue through an SQS event source mapping emulator,
// and prints the policy moto then holds. A second function then runs as an
// organisation's hub: one baseline in two accounts and two regions.
// Then the CLI replaces a team's policy, the demo shows the archived
// record of that write, and the CLI restores it. It exits non-zero when
// any step ends otherwise than it should.
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/events"
	"github.com/ecr-baseline/ecr-baseline/internal/esm"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/cli"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

const (
	parameterName = "/ecr-baseline/baseline-policy"
	// archiveBucket stands for the bucket the stack creates.
	archiveBucket = "ecr-baseline-archive"
)

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
	fmt.Println("== creating the sweep queue and its dead-letter queue (as the stack's)")
	queues, err := moto.NewSweepQueues(ctx, sqs.NewFromConfig(cfg), "ecr-baseline-sweeps", 5)
	if err != nil {
		return err
	}
	fmt.Printf("== creating the archive bucket %s (versioned, as the stack's)\n", archiveBucket)
	if err := moto.VersionedBucket(ctx, moto.S3(cfg), archiveBucket); err != nil {
		return err
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
	// SELF_ROLE_ARN is the role the sample of the function's own write names.
	env := append(srv.Env(), "BASELINE_PARAMETER_NAME="+parameterName, "ARCHIVE_BUCKET="+archiveBucket,
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole")
	cmd, err := rt.Run(bin, append(env, queues.Env()...), logFile)
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	changed := strings.Replace(policies.Baseline, `"ecr:BatchCheckLayerAvailability",`, "", 1)
	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	// failing marks the steps whose invocation must fail (so Lambda
	// retries it and the DLQ keeps it); any other outcome fails the demo.
	// A step sends the sample named by event, or payload (a manual invoke);
	// one that starts a sweep has the queue consumed.
	steps := []struct {
		say     string
		before  func() error
		event   string
		payload string
		failing bool
		sweep   bool
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
		{say: "the baseline parameter changes: the sweep only reports (applyToExistingRepositories is off)", event: "parameter-change.json", sweep: true, before: func() error {
			_, err := ssmClient.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(parameterName), Type: types.ParameterTypeString, Value: aws.String(changed), Overwrite: aws.Bool(true)})
			return err
		}},
		{say: "the operator, having read the report, applies it with a manual sweep", payload: `{"action":"sweep","dryRun":false}`, sweep: true},
	}
	for _, st := range steps {
		if st.before != nil {
			if err := st.before(); err != nil {
				return fmt.Errorf("%s: %w", st.say, err)
			}
		}
		payload, source := []byte(st.payload), "manual invoke "+st.payload
		if st.event != "" {
			if payload, err = fs.ReadFile(events.FS, st.event); err != nil {
				return err
			}
			source = "events/" + st.event
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ictx, payload, time.Minute)
		cancel()
		if err != nil {
			return fmt.Errorf("invoke with %s: %w\nfunction logs:\n%s", source, err, logs())
		}
		fmt.Printf("-> %s (%s)\n   ", st.say, source)
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
		if st.sweep {
			if err := consume(ctx, rt, cfg, queues); err != nil {
				return fmt.Errorf("%s: %w\nfunction logs:\n%s", st.say, err, logs())
			}
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
	if err := organization(ctx, srv, cfg, bin, logFile); err != nil {
		return fmt.Errorf("organisation mode: %w\nfunction logs:\n%s", err, logs())
	}
	return archiveAndRestore(ctx, srv, cfg, ecrClient)
}

// consume runs the sweep queue's event source mapping (internal/esm) into
// the function until the queue is empty, and prints what the sweep did.
func consume(ctx context.Context, rt *runtimeapi.Server, cfg aws.Config, queues moto.SweepQueues) error {
	var (
		mu      sync.Mutex
		results []string
	)
	invoke := esm.RuntimeInvoke(rt, time.Minute)
	m := &esm.Mapping{SQS: sqs.NewFromConfig(cfg), QueueURL: queues.URL, ReportBatchItemFailures: true, MaximumConcurrency: 2,
		Invoke: func(ctx context.Context, payload []byte) ([]byte, bool, error) {
			out, failed, err := invoke(ctx, payload)
			var res handler.Response
			if err == nil && !failed && json.Unmarshal(out, &res) == nil {
				mu.Lock()
				for _, r := range res.Results {
					results = append(results, fmt.Sprintf("%s %s", r.Repository, r.Action))
				}
				mu.Unlock()
			}
			return out, failed, err
		}}
	stats, err := m.Drain(ctx)
	if err != nil {
		return fmt.Errorf("consume the sweep: %w", err)
	}
	slices.Sort(results)
	fmt.Printf("   the queue delivered %d items in %d batches: %s\n", stats.Records, stats.Invocations, strings.Join(results, ", "))
	dead, err := moto.Drain(ctx, sqs.NewFromConfig(cfg), queues.DeadLetterURL)
	if err != nil || len(dead) > 0 {
		return fmt.Errorf("dead letters %+v (%v), want none", dead, err)
	}
	return nil
}

// archiveAndRestore has the CLI replace a team's policy, shows the record
// the archive kept before the write, and has the CLI restore it.
func archiveAndRestore(ctx context.Context, srv *moto.Server, cfg aws.Config, ecrClient *ecr.Client) error {
	const repo = "team-b/api"
	team := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamBPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/team-b"},"Action":"ecr:BatchGetImage"}]}`
	fmt.Printf("== %s holds its team's own policy\n%s\n", repo, team)
	if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		return fmt.Errorf("create repository: %w", err)
	}
	if _, err := ecrClient.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(team)}); err != nil {
		return fmt.Errorf("set the team's policy: %w", err)
	}
	// The CLI reads its AWS configuration from the process environment,
	// as on a workstation.
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, args := range [][]string{
		{"backfill", "--quiet", "--archive-bucket", archiveBucket, "--prefix", repo},
		// Restore refuses a repository the enforcer would re-enforce at
		// once; exempting it by name is the operator's statement that the
		// team's policy is to stay.
		{"restore", "--quiet", "--archive-bucket", archiveBucket, "--repository", repo, "--exempt", repo},
	} {
		fmt.Printf("== ecr-baseline %s\n", strings.Join(args, " "))
		var out, errOut bytes.Buffer
		if code := cli.Run(ctx, args, &out, &errOut, lookup); code != cli.ExitOK {
			return fmt.Errorf("ecr-baseline %s: exit %d\n%s%s", args[0], code, out.String(), errOut.String())
		}
		fmt.Print(out.String())
		if args[0] != "backfill" {
			continue
		}
		store := &archive.Archive{S3: moto.S3(cfg), Bucket: archiveBucket}
		entries, err := store.List(ctx, archive.Query{AccountID: moto.AccountID, Region: moto.Region, Repository: repo})
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("archive of %s: %d records, %v; want one", repo, len(entries), err)
		}
		rec, err := store.Get(ctx, entries[0].Key)
		if err != nil {
			return err
		}
		shown, _ := json.MarshalIndent(rec, "", "  ")
		fmt.Printf("== archived before the write, s3://%s/%s\n%s\n", archiveBucket, rec.Key, shown)
	}
	out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	if err != nil {
		return fmt.Errorf("read back the restored policy: %w", err)
	}
	if got := aws.ToString(out.PolicyText); got != team {
		return fmt.Errorf("%s holds %s after restore, want the team's policy %s", repo, got, team)
	}
	fmt.Printf("== %s holds its team's policy again\n%s\n", repo, team)
	return nil
}
