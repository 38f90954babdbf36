package faultmatrix

import (
	"context"
	"fmt"
	"testing"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// TestMixedFaultsBackfill backfills 500 repositories while one call in ten
// meets a fault drawn from all five: the retryable ones are retried, an
// access denied fails its repository. Every repository must end compliant
// or be listed as failed, none both, none neither; each listed one must be
// as it was; and the counts of applied and unchanged must match what moto
// holds, read back directly rather than through the proxy.
func TestMixedFaultsBackfill(t *testing.T) {
	const none, foreign, compliant = 200, 200, 100
	var repos []fleet.Repo
	for i := range none {
		repos = append(repos, fleet.Repo{Name: fmt.Sprintf("mix/none-%03d", i)})
	}
	for i := range foreign {
		repos = append(repos, fleet.Repo{Name: fmt.Sprintf("mix/foreign-%03d", i), Policy: open})
	}
	for i := range compliant {
		name := fmt.Sprintf("mix/ok-%03d", i)
		text, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: name})
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, fleet.Repo{Name: name, Policy: text})
	}
	all := []fp.Fault{fp.Throttle, fp.ServerError, fp.Slow, fp.AccessDenied, fp.Drop}
	rules := map[string]fp.Rule{
		"*": {FaultRate: 0.1, Faults: all, SlowBy: slowBy},
		// A denied list would fail the whole invocation (a matrix row
		// proves that); here the list meets only faults that retry.
		"DescribeRepositories": {FaultRate: 0.1, Faults: []fp.Fault{fp.Throttle, fp.ServerError, fp.Slow, fp.Drop}, SlowBy: slowBy},
	}
	r := newRig(t, rules, repos...)

	res, err := r.handle([]byte(`{"action":"backfill","dryRun":false}`))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	s := res.Summary
	for _, op := range entries(t)["backfill"].ops {
		t.Logf("%s: %+v", op, r.proxy.Stats(op))
	}
	t.Logf("summary: scanned %d, applied %d, unchanged %d, failed %d", s.Scanned, s.Applied, s.Unchanged, s.Failed)

	listed := map[string]string{}
	for _, f := range s.Failures {
		if _, twice := listed[f.Repository]; twice {
			t.Errorf("%s listed twice", f.Repository)
		}
		listed[f.Repository] = f.Reason
	}
	if s.Scanned != len(repos) || !s.Complete || s.Failed != len(listed) || s.Applied+s.Unchanged+s.Failed != len(repos) {
		t.Fatalf("summary %+v; want all %d scanned, complete, each applied, unchanged or listed", s, len(repos))
	}
	if s.Failed == 0 {
		t.Errorf("no repository failed: the access-denied faults did not reach the run")
	}

	names := make([]string, len(repos))
	for i, repo := range repos {
		names[i] = repo.Name
	}
	held, err := r.fleet.ReadBack(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	var compliantNotListed, wantApplied, wantUnchanged int
	for _, repo := range repos {
		seededCompliant := repo.Policy != "" && repo.Policy != open
		reason, isListed := listed[repo.Name]
		switch {
		case isListed && !samePolicy(held[repo.Name].Policy, repo.Policy):
			t.Errorf("%s is listed as failed (%s) but was changed to %q", repo.Name, reason, held[repo.Name].Policy)
		case !isListed && !held[repo.Name].Compliant:
			t.Errorf("%s is not listed as failed but holds %q, not the baseline", repo.Name, held[repo.Name].Policy)
		case !isListed && seededCompliant:
			compliantNotListed++
			wantUnchanged++
		case !isListed:
			compliantNotListed++
			wantApplied++
		}
	}
	if compliantNotListed+len(listed) != len(repos) {
		t.Errorf("%d compliant + %d listed != %d repositories", compliantNotListed, len(listed), len(repos))
	}
	if s.Applied != wantApplied || s.Unchanged != wantUnchanged {
		t.Errorf("reported %d applied, %d unchanged; moto shows %d written, %d already compliant", s.Applied, s.Unchanged, wantApplied, wantUnchanged)
	}
}
