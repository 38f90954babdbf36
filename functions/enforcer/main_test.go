package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

var (
	server *moto.Server

	buildOnce sync.Once
	bootstrap string
	buildErr  error
)

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

// syncBuffer collects the function's logs while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startFunction builds bootstrap and runs it under the Runtime API emulator
// with moto as its AWS.
func startFunction(t *testing.T, env ...string) (*runtimeapi.Server, *exec.Cmd, *syncBuffer) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ecr-baseline-bootstrap")
		if err != nil {
			buildErr = err
			return
		}
		bootstrap, buildErr = runtimeapi.BuildBootstrap("github.com/ecr-baseline/ecr-baseline/functions/enforcer", dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin := bootstrap
	rt, err := runtimeapi.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	logs := &syncBuffer{}
	cmd, err := rt.Run(bin, append(server.Env(), env...), logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
	})
	return rt, cmd, logs
}

func TestBootstrapThroughRuntimeAPI(t *testing.T) {
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ecrClient := ecr.NewFromConfig(cfg)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/ecr-baseline/baseline-policy"), Type: types.ParameterTypeString, Value: aws.String(policies.Baseline),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-a/web")}); err != nil {
		t.Fatal(err)
	}
	rt, _, logs := startFunction(t, "BASELINE_PARAMETER_NAME=/ecr-baseline/baseline-policy", "BASELINE_CACHE_TTL=1m")

	tests := []struct {
		event         string
		wantResponse  string
		wantErrorType string
		wantErrorMsg  string
	}{
		{event: "create-repository.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"applied","reason":"repository had no policy"}]}`},
		// At-least-once delivery: the same event again changes nothing.
		{event: "create-repository.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"unchanged"}]}`},
		{event: "create-repository-failed.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"skipped","reason":"CreateRepository call failed with RepositoryAlreadyExistsException"}]}`},
		{event: "not-ours.json", wantErrorType: "wrapError", wantErrorMsg: `parse event: unsupported event: source "aws.ecr", detail-type "ECR Image Action"`},
	}
	for i, tt := range tests {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ctx, event(t, tt.event), time.Minute)
		cancel()
		if err != nil {
			t.Fatalf("invoke %d (%s): %v", i, tt.event, err)
		}
		if tt.wantErrorType != "" {
			if res.Error == nil || res.Error.ErrorType != tt.wantErrorType || res.Error.ErrorMessage != tt.wantErrorMsg {
				t.Errorf("invoke %d (%s): error = %+v, want %s %q", i, tt.event, res.Error, tt.wantErrorType, tt.wantErrorMsg)
			}
			continue
		}
		if res.Error != nil || string(res.Response) != tt.wantResponse {
			t.Errorf("invoke %d (%s): response %s, error %+v; want %s", i, tt.event, res.Response, res.Error, tt.wantResponse)
		}
	}

	out, err := ecrClient.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("team-a/web")})
	if err != nil {
		t.Fatal(err)
	}
	want, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: "team-a/web"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := policy.Parse(aws.ToString(out.PolicyText))
	wantDoc, _ := policy.Parse(want)
	if !policy.Equal(got, wantDoc) {
		t.Errorf("stored policy %s, want the rendered baseline %s", aws.ToString(out.PolicyText), want)
	}

	// One JSON log line per decision, with stable keys and the request id.
	var applied map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["action"] == "applied" {
			applied = rec
		}
	}
	for _, key := range []string{"timestamp", "level", "message", "repository", "action", "reason", "requestId"} {
		if _, ok := applied[key]; !ok {
			t.Errorf("applied log line %v lacks %q", applied, key)
		}
	}
}

func TestBootstrapMissingParameterFailsTheInvocation(t *testing.T) {
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	rt, _, _ := startFunction(t, "BASELINE_PARAMETER_NAME=/does/not/exist")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := rt.Invoke(ctx, event(t, "create-repository.json"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: enforce team-a/web: load baseline /does/not/exist: baseline parameter not found"
	if res.Error == nil || res.Error.ErrorMessage != want {
		t.Errorf("error = %+v, want message %q (so Lambda retries and the DLQ keeps the event)", res.Error, want)
	}
}

func TestBootstrapRefusesBadConfiguration(t *testing.T) {
	_, cmd, logs := startFunction(t, "BASELINE_CACHE_TTL=soon")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("bootstrap exited 0 with an invalid configuration")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bootstrap kept running with an invalid configuration")
	}
	for _, want := range []string{`"message":"invalid configuration"`, "BASELINE_PARAMETER_NAME is required", `BASELINE_CACHE_TTL must be a duration`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}
