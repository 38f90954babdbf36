package faultmatrix

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestMixedFaultsSweep sweeps 300 repositories while one call in ten,
// SQS's and the archive's included, meets a fault drawn from all five,
// and ten repositories are deleted once the sweep is under way: the
// retryable faults are retried by the SDK, an access denied fails its
// item, which the queue delivers again. Every repository must end compliant, deleted, or in the
// dead-letter queue as it was, with the reason; none lost, none counted
// twice; and the writes moto received must be exactly the repositories
// that needed one: none written twice.
func TestMixedFaultsSweep(t *testing.T) {
	const none, foreign, compliant, deleted = 120, 120, 60, 10
	repos, err := (&fleet.Fleet{Template: policies.Baseline}).Mixed("mix", none, foreign, compliant)
	if err != nil {
		t.Fatal(err)
	}
	all := []fp.Fault{fp.Throttle, fp.ServerError, fp.Slow, fp.AccessDenied, fp.Drop}
	retryable := []fp.Fault{fp.Throttle, fp.ServerError, fp.Slow, fp.Drop}
	r := newRig(t, map[string]fp.Rule{
		"*": {FaultRate: 0.1, Faults: all, SlowBy: slowBy},
		// A page that is denied every delivery is dead-lettered (a matrix
		// row proves it), and its repositories are then never queued:
		// here listing and queuing meet only faults that retry.
		// Pages of 40, as ECR pages (moto answers in one): the listing
		// goes on through eight list items.
		"DescribeRepositories": {FaultRate: 0.1, Faults: retryable, SlowBy: slowBy, PageSize: 40},
		"SendMessageBatch":     {FaultRate: 0.1, Faults: retryable, SlowBy: slowBy},
	}, repos...)

	if _, err := r.handle([]byte(`{"action":"sweep","dryRun":false}`)); err != nil {
		t.Fatalf("the sweep request failed (one call in ten does): %v", err)
	}
	// The first batch that enforces repositories finds the first ten of
	// them deleted: gone before their turn, whether their page was listed yet or not.
	gone := map[string]bool{}
	for _, repo := range repos[:deleted] {
		gone[repo.Name] = true
	}
	var once sync.Once
	res := r.consume(t, func(ctx context.Context, payload []byte) {
		if strings.Contains(string(payload), `\"kind\":\"enforce\"`) {
			once.Do(func() {
				for name := range gone {
					if _, err := r.fleet.ECR.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String(name), Force: true}); err != nil {
						t.Errorf("delete %s: %v", name, err)
					}
				}
			})
		}
	})
	for _, op := range append(entries(t)["sweep"].ops, "SendMessage") {
		t.Logf("%s: %+v", op, r.proxy.Stats(op))
	}
	t.Logf("mapping: %+v; results: %+v; dead letters: %d", res.stats, res.tally, len(res.dead))

	v, err := r.fleet.JudgeSweep(context.Background(), repos, gone, res.dead)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Problems {
		t.Error(p)
	}
	if res.tally.Failed == 0 {
		t.Errorf("no item failed: the access-denied faults did not reach the sweep")
	}
	// Every write moto received (calls the proxy forwarded) was one a
	// repository needed: none written twice.
	w := r.proxy.Stats("SetRepositoryPolicy")
	if written := w.Calls - w.Faults; written != v.Needed {
		t.Errorf("moto received %d policy writes; %d repositories needed one", written, v.Needed)
	}
}
