package faultmatrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	fp "github.com/ecr-baseline/ecr-baseline/internal/faultproxy"
	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/samples"
	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// open is the policy a person sets in events/set-repository-policy.json.
const open = fleet.Open

// entry is one way into the function: the payload, the repositories it
// covers as they are before the invocation, and the operations it makes.
type entry struct {
	payload []byte
	// eventID prefixes an event's errors; "" for a sweep.
	eventID string
	repos   []fleet.Repo
	// reason and diff are the applied result's on an event path.
	reason string
	diff   policydiff.Diff
	ops    []string
}

// The statement diffs of the event paths' writes: the baseline onto no
// policy, and onto the open policy drift left.
var (
	createDiff = policydiff.Diff{Added: []string{"BaselineAllowAccountPull", "BaselineDenyInsecureTransport"}}
	driftDiff  = policydiff.Diff{Added: []string{"BaselineAllowAccountPull", "BaselineDenyInsecureTransport"}, Removed: []string{"Open"}}
)

var perRepositoryOps = []string{"GetParameter", "ListTagsForResource", "GetRepositoryPolicy", "PutObject", "SetRepositoryPolicy"}

func entries(t *testing.T) map[string]entry {
	compliant, err := policy.Render(policies.Baseline, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: "fleet/ok-0"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]entry{
		"create": {payload: samples.Read(t, "create-repository.json"), eventID: "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
			repos: []fleet.Repo{{Name: "team-a/web"}}, reason: "repository had no policy", diff: createDiff, ops: perRepositoryOps},
		"drift": {payload: samples.Read(t, "set-repository-policy.json"), eventID: "d7e1f3a5-9b2c-4d4e-8f6a-1c3e5a7b9d02",
			repos: []fleet.Repo{{Name: "team-a/web", Policy: open}}, reason: "policy differs from baseline", diff: driftDiff, ops: perRepositoryOps},
		"sweep": {payload: []byte(`{"action":"sweep","dryRun":false}`),
			repos: []fleet.Repo{{Name: "fleet/none-0"}, {Name: "fleet/none-1"}, {Name: "fleet/foreign-0", Policy: open}, {Name: "fleet/ok-0", Policy: compliant}},
			ops:   append([]string{"DescribeRepositories", "SendMessageBatch"}, perRepositoryOps...)},
	}
}

// outcome is what an invocation does with a fault.
type outcome string

const (
	// retried: the SDK retried the calls and the invocation succeeded.
	retried outcome = "retried to success"
	// requeued: a sweep item failed, the queue delivered it again and it
	// succeeded.
	requeued outcome = "delivered again by the queue to success"
	// deadLettered: a sweep item failed every delivery and is in the
	// dead-letter queue as itself, with the reason; the rest of the sweep
	// completes.
	deadLettered outcome = "in the dead-letter queue with its reason"
	// returned: the invocation fails, so Lambda's async retries and then
	// the dead-letter queue keep the event.
	returned outcome = "returned to Lambda as an error"
)

// Why the SDK gave up, as its errors say it.
const (
	exhausted = "exceeded maximum number of attempts, 8, "
	throttled = "https response error StatusCode: 400, RequestID: , api error ThrottlingException: Rate exceeded"
	// ECR models ServerException, so its text lacks SSM's "api error".
	server500 = "https response error StatusCode: 500, RequestID: , ServerException: injected server error"
	sendError = `https response error StatusCode: 0, RequestID: , request send failed, Post "PROXY/": <transport error>`
	denied    = "https response error StatusCode: 400, RequestID: , api error AccessDeniedException: injected access denied"
	setPolicy = "set policy: operation error ECR: SetRepositoryPolicy, "

	// S3's words for the same faults, and the archive's for its Put: the
	// key is normalised (see normalize), the repository is put in.
	s3SlowDown  = "https response error StatusCode: 503, RequestID: , HostID: , api error SlowDown: Please reduce your request rate."
	s3Internal  = "https response error StatusCode: 500, RequestID: , HostID: , api error InternalError: injected server error"
	s3SendError = `https response error StatusCode: 0, RequestID: , HostID: , request send failed, Put "PROXY/ARCHIVE_KEY?x-id=PutObject": <transport error>`
	s3Denied    = "https response error StatusCode: 403, RequestID: , HostID: , api error AccessDenied: injected access denied"
	putArchive  = "archive: policy not archived: <repository>: put s3://ARCHIVE_KEY: operation error S3: PutObject, "
)

// The transient rows fail every operation's first calls: all but the last
// of the SDK's attempts.
const transient = awsconfig.MaxAttempts - 1

type row struct {
	entry, fault, mode string
	rules              map[string]fp.Rule
	want               outcome
	// wantErr is the invocation's error on an event path (after
	// "event <id>: enforce team-a/web: ") or a sweep request's own error,
	// and the reason of every dead-lettered item (after its
	// "enforce <repository>: " or "sweep <id>: "), normalised.
	wantErr string
	// wantDead is how many items of a sweep end in the dead-letter queue.
	wantDead int
	// archived is how many records the archive holds at the end (object
	// versions): one per write the function attempted.
	archived int
}

func every(f fp.Fault, n int) map[string]fp.Rule {
	return map[string]fp.Rule{"*": {FailFirst: n, Fault: f, SlowBy: slowBy}}
}

func always(op string, f fp.Fault) map[string]fp.Rule {
	return map[string]fp.Rule{op: {FaultRate: 1, Fault: f, SlowBy: slowBy}}
}

func once(op string, f fp.Fault) map[string]fp.Rule {
	return map[string]fp.Rule{op: {FailFirst: 1, Fault: f}}
}

// wording is one write's error texts: its caller's prefix, then its
// service's words for each fault.
type wording struct{ caller, throttled, server, sent, denied string }

// writeErrors are the policy write's and the archive's Put before it.
var writeErrors = map[string]wording{
	"SetRepositoryPolicy": {setPolicy, throttled, server500, sendError, denied},
	"PutObject":           {putArchive, s3SlowDown, s3Internal, s3SendError, s3Denied},
}

// after is the error once the SDK gave up on the write under f: after
// every attempt, except an access denied, which it never retries.
func (w wording) after(f fp.Fault) string {
	switch f {
	case fp.Throttle:
		return w.caller + exhausted + w.throttled
	case fp.ServerError:
		return w.caller + exhausted + w.server
	case fp.Drop, fp.Slow:
		return w.caller + exhausted + w.sent
	}
	return w.caller + w.denied
}

// common are the rows every entry path has: each fault passing (first
// calls of every operation); and, for the policy write and for the
// archive's Put that comes before it, its first call denied and each fault
// on every call. writes is how many repositories of the path need a write,
// deliveries how often each is tried when every try fails: an event
// returns the failure to Lambda, a sweep dead-letters each of those
// repositories after the queue's deliveries. An access denied is never
// retried by the SDK, even once: a denied first call fails the event, or
// the sweep item, which the queue delivers again.
func common(entry string, deniedOnce, failedWrite outcome, writes, deliveries int) []row {
	dead := 0
	if failedWrite == deadLettered {
		dead = writes
	}
	var rows []row
	for _, f := range []fp.Fault{fp.Throttle, fp.ServerError, fp.Drop, fp.Slow} {
		rows = append(rows, row{entry, string(f), fmt.Sprintf("first %d calls of every operation", transient), every(f, transient), retried, "", 0, writes})
	}
	for _, op := range []string{"SetRepositoryPolicy", "PutObject"} {
		// Every policy write attempted was archived first, a denied one
		// and its retry both; a Put that failed archived nothing, and
		// the policy was then not written.
		archivedOnce, archivedEvery := writes+1, writes*deliveries
		if op == "PutObject" {
			archivedOnce, archivedEvery = writes, 0
		}
		rows = append(rows, row{entry, "access-denied", "first " + op, once(op, fp.AccessDenied), deniedOnce, writeErrors[op].after(fp.AccessDenied), 0, archivedOnce})
		for _, f := range []fp.Fault{fp.Throttle, fp.ServerError, fp.Drop, fp.Slow, fp.AccessDenied} {
			rows = append(rows, row{entry, string(f), "every " + op, always(op, f), failedWrite, writeErrors[op].after(f), dead, archivedEvery})
		}
	}
	return rows
}

var matrix = slices.Concat(
	// A CreateRepository event.
	common("create", returned, returned, 1, 1),
	[]row{
		{"create", "access-denied", "every GetParameter", always("GetParameter", fp.AccessDenied), returned,
			"load baseline /ecr-baseline/baseline-policy: operation error SSM: GetParameter, https response error StatusCode: 400, RequestID: , AccessDeniedException: injected access denied", 0, 0},
		{"create", "access-denied", "every GetRepositoryPolicy", always("GetRepositoryPolicy", fp.AccessDenied), returned,
			"get policy: operation error ECR: GetRepositoryPolicy, " + denied, 0, 0},
	},

	// A drift event: someone replaced the policy.
	common("drift", returned, returned, 1, 1),
	[]row{
		{"drift", "access-denied", "every ListTagsForResource", always("ListTagsForResource", fp.AccessDenied), returned,
			"list tags: operation error ECR: ListTagsForResource, " + denied, 0, 0},
	},

	// A sweep of four repositories: two without a policy, one with a
	// foreign one, one compliant.
	common("sweep", requeued, deadLettered, 3, maxReceiveCount),
	[]row{
		// Without the baseline nothing can be checked: it is read once,
		// before anything is queued, and the request fails with none
		// touched (not one GetParameter per repository).
		{"sweep", "server-error", "every GetParameter", always("GetParameter", fp.ServerError), returned,
			"sweep: nothing queued: load baseline /ecr-baseline/baseline-policy: operation error SSM: GetParameter, " + exhausted + "https response error StatusCode: 500, RequestID: , api error ServerException: injected server error", 0, 0},
		// A page that cannot be listed is the sweep's one dead letter:
		// redriven once the cause is fixed, it lists its page again.
		{"sweep", "throttle", "every DescribeRepositories", always("DescribeRepositories", fp.Throttle), deadLettered,
			"describe repositories: operation error ECR: DescribeRepositories, " + exhausted + throttled, 1, 0},
		{"sweep", "access-denied", "every DescribeRepositories", always("DescribeRepositories", fp.AccessDenied), deadLettered,
			"describe repositories: operation error ECR: DescribeRepositories, " + denied, 1, 0},
	},
)

// TestFaultMatrix runs each entry path under each fault and checks the
// defined outcome against what moto holds afterwards: retried faults end
// compliant, a sweep dead-letters exactly the items it could not handle,
// with their reasons, and left their repositories as they were, and an
// event that could not be enforced fails the invocation and leaves the
// repository as it was, for Lambda's retry to enforce.
func TestFaultMatrix(t *testing.T) {
	paths := entries(t)
	for _, tt := range matrix {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.entry, tt.fault, tt.mode), func(t *testing.T) {
			e := paths[tt.entry]
			r := newRig(t, tt.rules, e.repos...)
			res, err := r.handle(e.payload)
			var sw swept
			if e.eventID == "" && err == nil {
				sw = r.consume(t)
			}

			switch tt.want {
			case retried, requeued:
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if e.eventID != "" {
					want := []enforcer.Result{{Repository: "team-a/web", Action: enforcer.Applied, Reason: e.reason, Diff: e.diff}}
					// The result names the record archived before the write.
					if keys := r.archived(t); len(keys) == 1 {
						want[0].Archive = keys[0]
					}
					if diff := cmp.Diff(want, res.Results); diff != "" {
						t.Errorf("results (-want +got):\n%s", diff)
					}
				} else {
					// Requeued, the denied repository's first delivery failed.
					want := enforcer.Tally{Applied: 3, Unchanged: 1}
					if tt.want == requeued {
						want.Failed = 1
					}
					if diff := cmp.Diff(want, sw.tally); diff != "" || len(sw.dead) != 0 {
						t.Errorf("sweep results (-want +got):\n%s; dead letters %v", diff, sw.dead)
					}
				}
				if rule, ok := tt.rules["*"]; ok {
					for _, op := range e.ops {
						if st := r.proxy.Stats(op); st.Faults != rule.FailFirst || st.Calls <= st.Faults {
							t.Errorf("%s: %+v; want %d faults, then success", op, st, rule.FailFirst)
						}
					}
				}
				// Each write that succeeded was archived once, and moto
				// received it once: retries left no second record.
				if w := r.proxy.Stats("SetRepositoryPolicy"); tt.want == retried && w.Calls-w.Faults != tt.archived {
					t.Errorf("moto received %d policy writes, want %d, one per record", w.Calls-w.Faults, tt.archived)
				}
				for _, repo := range e.repos {
					r.wantCompliant(t, repo.Name)
				}

			case returned:
				if err == nil {
					t.Fatalf("Handle succeeded with %+v; want an error for Lambda to retry", res)
				}
				want := tt.wantErr
				if e.eventID != "" {
					want = "event " + e.eventID + ": enforce team-a/web: " + strings.ReplaceAll(want, "<repository>", "team-a/web")
				}
				if _, ok := tt.rules["PutObject"]; ok && !errors.Is(err, archive.ErrNotArchived) {
					t.Errorf("error %v does not wrap archive.ErrNotArchived", err)
				}
				got, transport := normalize(err.Error(), r.proxy.URL)
				if got != want || !transportErrorFits(fp.Fault(tt.fault), transport) {
					t.Errorf("error\n got %s\nwant %s (transport error %q)", got, want, transport)
				}
				for _, repo := range e.repos {
					r.wantUntouched(t, repo)
				}
				// A baseline that cannot be read is read once per invocation
				// (each attempt of it), whatever the number of repositories.
				if tt.mode == "every GetParameter" && e.eventID == "" {
					if n := r.proxy.Stats("GetParameter").Calls; n != awsconfig.MaxAttempts {
						t.Errorf("GetParameter calls = %d, want %d: one read, with the SDK's attempts", n, awsconfig.MaxAttempts)
					}
					if n := r.proxy.Stats("DescribeRepositories").Calls; n != 0 {
						t.Errorf("DescribeRepositories calls = %d, want none: the run must not start", n)
					}
				}
				// Lambda's retry of an event after a passing fault enforces it.
				if strings.HasPrefix(tt.mode, "first ") {
					if _, err := r.handle(e.payload); err != nil {
						t.Fatalf("Lambda's retry: %v", err)
					}
					r.wantCompliant(t, "team-a/web")
				}

			case deadLettered:
				if err != nil {
					t.Fatalf("Handle: %v; a sweep request queues the sweep and succeeds", err)
				}
				failed := map[string]bool{}
				for _, d := range sw.dead {
					it, err := sweep.Decode(d.Body)
					if err != nil {
						t.Errorf("dead letter %q is not a sweep item: %v", d.Body, err)
						continue
					}
					failed[it.Repository] = true
					// The reason names the item: "enforce <repository>: "
					// or "sweep <id>: ".
					_, reason, _ := strings.Cut(d.Attributes[sweep.AttributeReason], ": ")
					got, transport := normalize(reason, r.proxy.URL)
					want := strings.ReplaceAll(tt.wantErr, "<repository>", it.Repository)
					if got != want || !transportErrorFits(fp.Fault(tt.fault), transport) {
						t.Errorf("%s: reason\n got %s\nwant %s (transport error %q)", d.Body, got, want, transport)
					}
				}
				if len(sw.dead) != tt.wantDead || len(failed) != tt.wantDead {
					t.Errorf("dead letters %+v; want %d, each once", sw.dead, tt.wantDead)
				}
				// Nothing lost, nothing reported wrongly: a dead-lettered
				// repository is as it was, every other one holds the
				// baseline, unless the page was never listed.
				for _, repo := range e.repos {
					if failed[repo.Name] || failed[""] {
						r.wantUntouched(t, repo)
					} else {
						r.wantCompliant(t, repo.Name)
					}
				}
			}
			// Every policy write attempted was archived before it; when
			// the archive failed, nothing was written.
			if keys := r.archived(t); len(keys) != tt.archived {
				t.Errorf("the archive holds %d records, want %d: %v", len(keys), tt.archived, keys)
			}
			if tt.archived == 0 {
				if n := r.proxy.Stats("SetRepositoryPolicy").Calls; n != 0 {
					t.Errorf("%d policy writes with nothing archived, want none", n)
				}
			}
			if t.Failed() {
				names := make([]string, 0, len(e.ops))
				for _, op := range e.ops {
					names = append(names, fmt.Sprintf("%s %+v", op, r.proxy.Stats(op)))
				}
				sort.Strings(names)
				t.Logf("proxy saw: %v", names)
			}
		})
	}
}

func (r *rig) wantCompliant(t *testing.T, name string) {
	t.Helper()
	ok, err := r.fleet.Compliant(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		got, _ := r.fleet.Policy(context.Background(), name)
		t.Errorf("%s holds %q, want the baseline", name, got)
	}
}

// wantUntouched checks a repository still holds the policy it was seeded
// with.
func (r *rig) wantUntouched(t *testing.T, repo fleet.Repo) {
	t.Helper()
	got, err := r.fleet.Policy(context.Background(), repo.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !fleet.SamePolicy(got, repo.Policy) {
		t.Errorf("%s holds %q, want it untouched: %q", repo.Name, got, repo.Policy)
	}
}
