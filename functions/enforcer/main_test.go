package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/runtimeapi"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
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
	// wrote, when a reader waits, is closed by the next write.
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote != nil {
		close(s.wrote)
		s.wrote = nil
	}
	return s.b.Write(p)
}

// waitFor blocks until the logs so far satisfy cond, waking at each
// write rather than polling a clock; it reports false if ctx ends first.
func (s *syncBuffer) waitFor(ctx context.Context, cond func(logs string) bool) bool {
	for {
		s.mu.Lock()
		if cond(s.b.String()) {
			s.mu.Unlock()
			return true
		}
		if s.wrote == nil {
			s.wrote = make(chan struct{})
		}
		wrote := s.wrote
		s.mu.Unlock()
		select {
		case <-wrote:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFunction builds bootstrap and runs it under a new Runtime API
// emulator with moto as its AWS.
func startFunction(t *testing.T, env ...string) (*runtimeapi.Server, *exec.Cmd, *syncBuffer) {
	t.Helper()
	rt := newRuntime(t)
	cmd, logs := runFunction(t, rt, env...)
	return rt, cmd, logs
}

func newRuntime(t *testing.T) *runtimeapi.Server {
	t.Helper()
	rt, err := runtimeapi.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// runFunction runs bootstrap under rt.
func runFunction(t *testing.T, rt *runtimeapi.Server, env ...string) (*exec.Cmd, *syncBuffer) {
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
	logs := &syncBuffer{}
	// A function that writes requires its archive bucket (seed creates
	// it); a test overrides it by naming ARCHIVE_BUCKET again.
	cmd, err := rt.Run(bin, append(append(server.Env(), "ARCHIVE_BUCKET="+archiveBucket), env...), logs)
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
	return cmd, logs
}

// seed empties moto, stores the default baseline and creates repos; it
// returns an ECR client on moto itself for reading results back.
func seed(t *testing.T, repos ...fleet.Repo) *ecr.Client {
	t.Helper()
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := moto.VersionedBucket(ctx, moto.S3(cfg), archiveBucket); err != nil {
		t.Fatal(err)
	}
	f := fleet.New(cfg, policies.Baseline)
	if err := f.Seed(ctx, repos...); err != nil {
		t.Fatal(err)
	}
	return f.ECR
}

// archiveKey matches the archive key in a response.
var archiveKey = regexp.MustCompile(`"archive":"[^"]+"`)

// createEventID is the id of events/create-repository.json.
const createEventID = "6f87d04b-9f74-4f04-a780-7acf4b0a9b38"

// archiveBucket is the bucket the function archives in, as the stack's.
const archiveBucket = "ecr-baseline-archive"

func TestBootstrapThroughRuntimeAPI(t *testing.T) {
	ctx := context.Background()
	ecrClient := seed(t, fleet.Repo{Name: "team-a/web"})
	rt, _, logs := startFunction(t, "BASELINE_PARAMETER_NAME=/ecr-baseline/baseline-policy", "BASELINE_CACHE_TTL=1m")

	tests := []struct {
		event         string
		wantResponse  string
		wantErrorType string
		wantErrorMsg  string
	}{
		{event: "create-repository.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"applied","reason":"repository had no policy","archive":"<key>","diff":{"added":["BaselineAllowAccountPull","BaselineDenyInsecureTransport"]}}]}`},
		// At-least-once delivery: the same event again changes nothing.
		{event: "create-repository.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"unchanged"}]}`},
		{event: "create-repository-failed.json", wantResponse: `{"results":[{"repository":"team-a/web","action":"skipped","reason":"CreateRepository call failed with RepositoryAlreadyExistsException"}]}`},
		{event: "not-ours.json", wantErrorType: "wrapError", wantErrorMsg: `parse event: unsupported event: source "aws.ecr", detail-type "ECR Image Action"`},
	}
	for i, tt := range tests {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := rt.Invoke(ctx, samples.Read(t, tt.event), time.Minute)
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
		// The key holds the time of the write, checked below against the
		// bucket.
		response := archiveKey.ReplaceAllString(string(res.Response), `"archive":"<key>"`)
		if res.Error != nil || response != tt.wantResponse {
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
	// The one write was archived before it, naming its event.
	awsCfg, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store := &archive.Archive{S3: moto.S3(awsCfg), Bucket: archiveBucket}
	entries, err := store.List(ctx, archive.Query{AccountID: moto.AccountID, Region: moto.Region, Repository: "team-a/web"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("archive entries %+v, %v; want one", entries, err)
	}
	rec, err := store.Get(ctx, entries[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Previous != nil || aws.ToString(rec.New) != aws.ToString(out.PolicyText) || rec.Trigger != "event:"+createEventID || rec.BaselineVersion != 1 {
		t.Errorf("archived record %+v; want no previous policy, the written one, trigger event:%s, baseline version 1", rec, createEventID)
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
	seed(t, fleet.Repo{Name: "team-a/web"})
	rt, _, _ := startFunction(t, "BASELINE_PARAMETER_NAME=/does/not/exist")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := rt.Invoke(ctx, samples.Read(t, "create-repository.json"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := "event 6f87d04b-9f74-4f04-a780-7acf4b0a9b38: enforce team-a/web: load baseline /does/not/exist: baseline parameter not found"
	if res.Error == nil || res.Error.ErrorMessage != want {
		t.Errorf("error = %+v, want message %q (so Lambda retries and the DLQ keeps the event)", res.Error, want)
	}
}

func TestBootstrapRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{name: "invalid settings", env: []string{"BASELINE_CACHE_TTL=soon"},
			want: []string{`"message":"invalid configuration"`, "BASELINE_PARAMETER_NAME is required", `BASELINE_CACHE_TTL must be a duration`}},
		{name: "a writer without an archive", env: []string{"BASELINE_PARAMETER_NAME=/b", "ARCHIVE_BUCKET="},
			want: []string{`"message":"invalid configuration"`, app.ErrNoArchive.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cmd, logs := startFunction(t, tt.env...)
			// A bootstrap that kept running would hang the test until go
			// test's own timeout: no timer here to race a slow start.
			if err := cmd.Wait(); err == nil {
				t.Fatal("bootstrap exited 0 with an invalid configuration")
			}
			for _, want := range tt.want {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %s:\n%s", want, logs.String())
				}
			}
		})
	}
}
