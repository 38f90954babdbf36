package restore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const (
	bucket = "ecr-baseline-archive"
	// team is a team's own policy as a person writes it: a statement
	// with a Sid, one without, indentation and a lone action.
	team = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"TeamPush\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::444455556666:role/ci\"}, \"Action\": \"ecr:PutImage\"},\n    {\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"444455556666\"}, \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"]}\n  ]\n}"
	// good is the baseline; bad is the one a rollback undoes (issue 10's
	// public baseline).
	good = `{"Version":"2012-10-17","Statement":[{"Sid":"BaselineDenyDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"},{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	bad  = `{"Version":"2012-10-17","Statement":[{"Sid":"BaselineOpen","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
)

var start = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// world is moto with a versioned archive bucket and a clock that moves one
// second per archive record (atomic: a run restores repositories
// concurrently).
type world struct {
	ecr     *ecr.Client
	s3      *s3.Client
	archive *archive.Archive
	ticks   atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	cfg, err := server.Fresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ecr: ecr.NewFromConfig(cfg), s3: moto.S3(cfg)}
	w.archive = &archive.Archive{S3: w.s3, Bucket: bucket, Now: func() time.Time { return start.Add(time.Duration(w.ticks.Add(1)) * time.Second) }}
	if err := moto.VersionedBucket(ctx, w.s3, bucket); err != nil {
		t.Fatal(err)
	}
	return w
}

// now is the time of the latest archive record.
func (w *world) now() time.Time { return start.Add(time.Duration(w.ticks.Load()) * time.Second) }

// create makes a repository holding text (nil: no policy).
func (w *world) create(t *testing.T, name string, text *string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if text != nil {
		if _, err := w.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: text}); err != nil {
			t.Fatal(err)
		}
	}
}

// held is the policy moto holds, nil for none.
func (w *world) held(t *testing.T, name string) *string {
	t.Helper()
	out, err := w.ecr.GetRepositoryPolicy(context.Background(), &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var none *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &none) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.PolicyText
}

// enforce is the enforcer's write path with the archive wired in: read,
// decide, archive, then write.
func (w *world) enforce(t *testing.T, name, mode, baseline string) {
	t.Helper()
	ctx := context.Background()
	current := w.held(t, name)
	want := baseline
	if mode == "merge" {
		var err error
		if want, err = policy.Merge(aws.ToString(current), baseline); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.archive.Put(ctx, archive.Record{
		AccountID: moto.AccountID, Region: moto.Region, Repository: name,
		Previous: current, New: aws.String(want), BaselineVersion: 1, Trigger: "event:test", Mode: mode,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(want)}); err != nil {
		t.Fatal(err)
	}
}

// restoreRecords counts the records restore runs wrote.
func (w *world) restoreRecords(t *testing.T) int {
	t.Helper()
	entries, err := w.archive.List(context.Background(), archive.Query{AccountID: moto.AccountID, Region: moto.Region})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Mode == Mode {
			n++
		}
	}
	return n
}

func (w *world) runner(arch Archive, exempt ...string) *Runner {
	return &Runner{
		ECR: w.ecr, Archive: arch, Exemptions: names(exempt),
		AccountID: moto.AccountID, Region: moto.Region,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

// names exempts the repositories it lists.
type names []string

func (n names) Exempt(_ context.Context, repo ecrevent.Repository) (bool, error) {
	for _, name := range n {
		if name == repo.Name {
			return true, nil
		}
	}
	return false, nil
}

// failingPuts is S3 whose PutObject fails, as an archive bucket the
// function may not write to would.
type failingPuts struct{ archive.S3 }

func (failingPuts) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, errors.New("AccessDenied: injected")
}

// samePolicy reports whether got holds what want held, parsed (as ECR
// reformats) and as text (moto keeps the text it is sent, and a restore
// sends back the text it archived).
func samePolicy(t *testing.T, got, want *string) bool {
	t.Helper()
	if got == nil || want == nil {
		return got == want
	}
	g, err := policy.Parse(*got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := policy.Parse(*want)
	if err != nil {
		t.Fatal(err)
	}
	return policy.Equal(g, w) && *got == *want
}

type write struct{ mode, baseline string }

// TestRestoreOnMoto writes a repository's policy through the archive, then
// restores it with each option and checks what moto holds afterwards.
func TestRestoreOnMoto(t *testing.T) {
	const repo = "team-a/app"
	tests := []struct {
		name    string
		initial *string
		writes  []write
		// since restores to before the first write (Selection.After set
		// to before it); otherwise the latest write is undone.
		since          bool
		exempt         bool
		enforcerDryRun bool
		dryRun         bool
		failPut        bool
		want           Action
		wantReason     string
		// wantHeld indexes what the repository held: 0 before any write,
		// i after the i-th.
		wantHeld           int
		wantRestoreRecords int
	}{
		{name: "replaced policy put back", initial: aws.String(team), writes: []write{{"replace", good}}, exempt: true,
			want: Restored, wantHeld: 0, wantRestoreRecords: 1},
		{name: "merged-into policy put back", initial: aws.String(team), writes: []write{{"merge", good}}, exempt: true,
			want: Restored, wantHeld: 0, wantRestoreRecords: 1},
		{name: "policy deleted where there was none", writes: []write{{"replace", good}}, exempt: true,
			want: Restored, wantHeld: 0, wantRestoreRecords: 1},
		{name: "refused: not exempt", initial: aws.String(team), writes: []write{{"replace", good}},
			want: Refused, wantHeld: 1,
			wantReason: "repository is not exempt: the enforcer would apply the baseline again as soon as the restore writes; exempt it (tag or name pattern) first, or restore while the stack is in dry-run"},
		{name: "not exempt, enforcer in dry-run", initial: aws.String(team), writes: []write{{"replace", good}}, enforcerDryRun: true,
			want: Restored, wantHeld: 0, wantRestoreRecords: 1},
		{name: "dry run writes nothing", initial: aws.String(team), writes: []write{{"replace", good}}, exempt: true, dryRun: true,
			want: WouldRestore, wantHeld: 1},
		{name: "failed archive put blocks the write", initial: aws.String(team), writes: []write{{"replace", good}}, exempt: true, failPut: true,
			want: Failed, wantHeld: 1,
			wantReason: "policy not archived: team-a/app: put s3://ecr-baseline-archive/123456789012/us-east-1/team-a/app@20261124T090002.000000000Z_restore_"},
		{name: "latest write undone", initial: aws.String(team), writes: []write{{"replace", good}, {"replace", bad}}, exempt: true,
			want: Restored, wantHeld: 1, wantRestoreRecords: 1},
		{name: "since a time: back to before the first write", initial: aws.String(team), writes: []write{{"merge", good}, {"merge", bad}}, since: true, exempt: true,
			want: Restored, wantHeld: 0, wantRestoreRecords: 1},
		{name: "nothing archived", initial: aws.String(team), exempt: true,
			want: Failed, wantHeld: 0, wantReason: "no archived write to restore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.create(t, repo, tt.initial)
			snapshots := []*string{w.held(t, repo)}
			for _, wr := range tt.writes {
				w.enforce(t, repo, wr.mode, wr.baseline)
				snapshots = append(snapshots, w.held(t, repo))
			}
			sel := Selection{Repository: repo}
			if tt.since {
				sel.After = start
			}
			var arch Archive = w.archive
			if tt.failPut {
				arch = &archive.Archive{S3: failingPuts{w.s3}, Bucket: bucket, Now: w.archive.Now}
			}
			var exempt []string
			if tt.exempt {
				exempt = []string{repo}
			}
			var results []Result
			sum, err := w.runner(arch, exempt...).Run(ctx, Options{
				Selection: sel, DryRun: tt.dryRun, EnforcerDryRun: tt.enforcerDryRun, RunID: "restore-test",
				OnResult: func(r Result) { results = append(results, r) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 1 || sum.Scanned != 1 || !sum.Complete {
				t.Fatalf("results %+v, summary %+v: want one result, complete", results, sum)
			}
			res := results[0]
			if res.Action != tt.want || !strings.HasPrefix(res.Reason, tt.wantReason) || (tt.wantReason == "") != (res.Reason == "") {
				t.Errorf("result %s %q, want %s %q", res.Action, res.Reason, tt.want, tt.wantReason)
			}
			if got, want := w.held(t, repo), snapshots[tt.wantHeld]; !samePolicy(t, got, want) {
				t.Errorf("moto holds %s, want %s", show(got), show(want))
			}
			if n := w.restoreRecords(t); n != tt.wantRestoreRecords {
				t.Errorf("%d restore records archived, want %d", n, tt.wantRestoreRecords)
			}
			if tt.want == Restored && res.Diff.Empty() {
				t.Errorf("restored with an empty diff: %+v", res)
			}
		})
	}
}

func show(text *string) string {
	if text == nil {
		return "no policy"
	}
	return *text
}

// TestRestoreTwiceOnMoto restores, then restores again: the second run
// finds the policy already back, since a restore's own record is never
// restored from, and writes nothing.
func TestRestoreTwiceOnMoto(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.create(t, "app", aws.String(team))
	w.enforce(t, "app", "replace", good)
	tests := []struct {
		run  string
		want Summary
	}{
		{"first", Summary{Scanned: 1, Restored: 1, Complete: true}},
		{"second", Summary{Scanned: 1, Unchanged: 1, Complete: true}},
	}
	for _, tt := range tests {
		t.Run(tt.run, func(t *testing.T) {
			sum, err := w.runner(w.archive, "app").Run(ctx, Options{Selection: Selection{Repository: "app"}, RunID: tt.run})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, sum); d != "" {
				t.Errorf("summary (-want +got):\n%s", d)
			}
			if !samePolicy(t, w.held(t, "app"), aws.String(team)) {
				t.Errorf("moto holds %s", show(w.held(t, "app")))
			}
		})
	}
	if n := w.restoreRecords(t); n != 1 {
		t.Errorf("%d restore records, want 1 (the second run wrote nothing)", n)
	}
}

// TestRollbackOnMoto is the rollback after a bad baseline: the good one
// went out first, the bad one after time T; restoring every repository
// written after T puts each back to what it held at T, including a
// repository that only the bad baseline reached. One not exempt is refused
// and keeps the bad policy, and one written only before T is not touched.
func TestRollbackOnMoto(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	type repo struct {
		name    string
		initial *string
		mode    string
		early   bool // enforced with the good baseline before T
	}
	repos := []repo{
		{"team-a/replaced", aws.String(team), "replace", true},
		{"team-a/merged", aws.String(team), "merge", true},
		{"team-b/new", nil, "replace", false},
		{"team-b/pinned", aws.String(team), "replace", true},
		{"team-c/untouched", aws.String(team), "replace", true},
	}
	atT := map[string]*string{}
	for _, r := range repos {
		w.create(t, r.name, r.initial)
		if r.early {
			w.enforce(t, r.name, r.mode, good)
		}
		atT[r.name] = w.held(t, r.name)
	}
	tBad := w.now()
	for _, r := range repos {
		if r.name != "team-c/untouched" {
			w.enforce(t, r.name, r.mode, bad)
		}
	}
	afterBad := w.held(t, "team-b/pinned")

	sum, err := w.runner(w.archive, "team-a/replaced", "team-a/merged", "team-b/new").Run(ctx, Options{
		Selection: Selection{After: tBad}, RunID: "rollback",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Scanned: 4, Restored: 3, Refused: 1, Complete: true, Refusals: []Problem{{"team-b/pinned",
		"repository is not exempt: the enforcer would apply the baseline again as soon as the restore writes; exempt it (tag or name pattern) first, or restore while the stack is in dry-run"}}}
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	for _, r := range repos {
		want := atT[r.name]
		if r.name == "team-b/pinned" {
			want = afterBad
		}
		if got := w.held(t, r.name); !samePolicy(t, got, want) {
			t.Errorf("%s holds %s, want %s", r.name, show(got), show(want))
		}
	}
}
