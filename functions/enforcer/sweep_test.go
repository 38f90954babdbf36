package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-baseline/ecr-baseline/internal/esm"
	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestBootstrapSweepsThroughTheQueue is the sweep end to end with the
// real binary: a parameter change queues a sweep of 300 repositories, and
// two bootstrap processes consume the queue through the event source
// mapping emulator, while one call in ten the function makes (to ECR,
// SSM, SQS and S3, through a fault proxy) is throttled, fails with a 500
// or is denied, and ten repositories are deleted once the sweep is under way.
// Every repository must end compliant, deleted, or in the dead-letter
// queue as it was, with its reason; none lost, none written twice.
// functionTimeout is the deadline each invocation sees: far beyond what
// any one needs, so no batch stops for time however loaded the machine.
const functionTimeout = time.Hour

func TestBootstrapSweepsThroughTheQueue(t *testing.T) {
	ctx := context.Background()
	const none, foreign, compliant, deleted = 100, 100, 100, 10
	direct, err := server.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := fleet.New(direct, policies.Baseline)
	repos, err := f.Mixed("sweep", none, foreign, compliant)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, repos...)
	queues, err := moto.NewSweepQueues(ctx, sqs.NewFromConfig(direct), "sweeps", 5)
	if err != nil {
		t.Fatal(err)
	}
	// Listing and queuing meet only faults that retry: a page denied at
	// every delivery is dead-lettered whole (internal/faultmatrix proves
	// it), and its repositories would then never be queued.
	retryable := []fp.Fault{fp.Throttle, fp.ServerError}
	proxy, err := fp.Start(server.URL, map[string]fp.Rule{
		"*": {FaultRate: 0.1, Faults: append(retryable, fp.AccessDenied)},
		// Pages of 40, as ECR pages (moto answers in one): the listing
		// goes on through eight list items.
		"DescribeRepositories": {FaultRate: 0.1, Faults: retryable, PageSize: 40},
		"SendMessageBatch":     {FaultRate: 0.1, Faults: retryable},
	}, 11)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	rt := newRuntime(t)
	env := append([]string{"BASELINE_PARAMETER_NAME=" + fleet.Parameter, "APPLY_TO_EXISTING_REPOSITORIES=true",
		"SELF_ROLE_ARN=arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", "AWS_ENDPOINT_URL=" + proxy.URL}, queues.Env()...)
	// Two execution environments, as many as the mapping's concurrency.
	runFunction(t, rt, env...)
	runFunction(t, rt, env...)

	// The parameter change arrives asynchronously: Lambda retries a
	// failed invocation twice.
	var started bool
	for attempt := 0; attempt < 3 && !started; attempt++ {
		res, err := rt.Invoke(ctx, samples.Read(t, "parameter-change.json"), functionTimeout)
		if err != nil {
			t.Fatal(err)
		}
		started = res.Error == nil
	}
	if !started {
		t.Fatal("the parameter change failed three times")
	}

	gone := map[string]bool{}
	for _, r := range repos[:deleted] {
		gone[r.Name] = true
	}
	var once sync.Once
	invoke := esm.RuntimeInvoke(rt, functionTimeout)
	m := &esm.Mapping{SQS: sqs.NewFromConfig(direct), QueueURL: queues.URL, ReportBatchItemFailures: true, MaximumConcurrency: 2,
		Invoke: func(ctx context.Context, payload []byte) ([]byte, bool, error) {
			// The first batch of repositories finds ten of them deleted:
			// gone before their turn, whether their page was listed yet or not.
			if strings.Contains(string(payload), `\"kind\":\"enforce\"`) {
				once.Do(func() {
					for name := range gone {
						if _, err := f.ECR.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String(name), Force: true}); err != nil {
							t.Errorf("delete %s: %v", name, err)
						}
					}
				})
			}
			return invoke(ctx, payload)
		}}
	stats, err := m.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := moto.Drain(ctx, sqs.NewFromConfig(direct), queues.DeadLetterURL)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.JudgeSweep(ctx, repos, gone, dead)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mapping: %+v; dead letters: %d; writes needed: %d", stats, len(dead), v.Needed)
	for _, p := range v.Problems {
		t.Error(p)
	}
	if stats.ItemFailures == 0 {
		t.Error("no item failed: the denied calls did not reach the sweep")
	}
	w := proxy.Stats("SetRepositoryPolicy")
	if written := w.Calls - w.Faults; written != v.Needed {
		t.Errorf("moto received %d policy writes; %d repositories needed one", written, v.Needed)
	}
}
