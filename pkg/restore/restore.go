// Package restore puts back the policies the archive kept: for each
// selected repository, the policy an archived write replaced.
//
// Restoring is itself a write, so it archives first, like every writer.
// Its own records (mode "restore") are never restored from: restoring
// twice gives "unchanged" the second time instead of undoing the first,
// and a restore is undone by enforcing again.
package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
)

// Mode is the archive mode of the records a restore writes.
const Mode = "restore"

// ECR is the part of the ECR API a restore calls.
type ECR interface {
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
	DeleteRepositoryPolicy(ctx context.Context, in *ecr.DeleteRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.DeleteRepositoryPolicyOutput, error)
}

// Archive finds, reads and writes archive records; *archive.Archive is one.
type Archive interface {
	List(ctx context.Context, q archive.Query) ([]archive.Entry, error)
	Get(ctx context.Context, key string) (archive.Record, error)
	Put(ctx context.Context, rec archive.Record) (archive.Record, error)
}

var (
	_ ECR     = (*ecr.Client)(nil)
	_ Archive = (*archive.Archive)(nil)
)

// Exemptions tells whether the enforcer leaves a repository alone. A
// restored policy is usually not the baseline, so on a repository that is
// not exempt the drift event of the restore's own write would have the
// enforcer apply the baseline again at once.
type Exemptions interface {
	Exempt(ctx context.Context, repo ecrevent.Repository) (bool, error)
}

// ErrNoExemptions is returned by Run when it has no exemption check and the
// enforcer is not in dry-run: every repository would be refused.
var ErrNoExemptions = errors.New("restore: no exemption check, and the enforcer is not in dry-run")

// Selection names the repositories to restore. Repository and Prefix are
// exclusive; neither selects every repository.
type Selection struct {
	// Repository is one repository's name.
	Repository string
	// Prefix selects every repository whose name starts with it.
	Prefix string
	// After, when set, restores each repository to its policy before the
	// first write after this time (a rollback after a bad baseline).
	// Unset, the latest write is undone.
	After time.Time
}

// Options shape one restore run.
type Options struct {
	Selection Selection
	// DryRun reports what would be restored and writes nothing.
	DryRun bool
	// EnforcerDryRun says the deployed enforcer only reports (the stack is
	// in dry-run), so a restored policy stays even on a repository that is
	// not exempt.
	EnforcerDryRun bool
	// RunID names this run in the archive records it writes.
	RunID string
	// OnSelected, when set, is told how many repositories the run will
	// restore once the archive is listed (progress lines).
	OnSelected func(n int)
	// OnResult, when set, sees every result as it happens.
	OnResult func(Result)
}

// Action is what a restore did to a repository.
type Action string

// Actions, as logged under the "action" key.
const (
	Restored     Action = "restored"
	WouldRestore Action = "would-restore"
	Unchanged    Action = "unchanged"
	Skipped      Action = "skipped"
	Refused      Action = "refused"
	Failed       Action = "failed"
)

// Result is the outcome for one repository.
type Result struct {
	Repository string `json:"repository"`
	Action     Action `json:"action"`
	Reason     string `json:"reason,omitempty"`
	// From is the key of the archived write whose previous policy is put
	// back.
	From string `json:"from,omitempty"`
	// Archived is the key of the record this restore wrote before its write.
	Archived string `json:"archived,omitempty"`
	// Diff is from the policy the repository holds to the one restored.
	Diff policydiff.Diff `json:"diff"`
}

// Problem is one repository refused or failed, with why.
type Problem struct {
	Repository string `json:"repository"`
	Reason     string `json:"reason"`
}

// Summary is what a restore run did.
type Summary struct {
	Scanned      int       `json:"scanned"`
	Restored     int       `json:"restored"`
	WouldRestore int       `json:"wouldRestore"`
	Unchanged    int       `json:"unchanged"`
	Skipped      int       `json:"skipped"`
	Refused      int       `json:"refused"`
	Failed       int       `json:"failed"`
	Refusals     []Problem `json:"refusals,omitempty"`
	Failures     []Problem `json:"failures,omitempty"`
	// Complete is false when ctx ended the run before every selected
	// repository was handled; running it again finishes it, as a restored
	// repository then reads unchanged.
	Complete bool `json:"complete"`
}

func (s *Summary) record(r Result) {
	s.Scanned++
	switch r.Action {
	case Restored:
		s.Restored++
	case WouldRestore:
		s.WouldRestore++
	case Unchanged:
		s.Unchanged++
	case Skipped:
		s.Skipped++
	case Refused:
		s.Refused++
		s.Refusals = append(s.Refusals, Problem{r.Repository, r.Reason})
	default:
		s.Failed++
		s.Failures = append(s.Failures, Problem{r.Repository, r.Reason})
	}
}

// Runner restores repositories of one account and region.
type Runner struct {
	ECR     ECR
	Archive Archive
	// Exemptions may be nil only for runs with EnforcerDryRun.
	Exemptions Exemptions
	// AccountID and Region select the archive records and the registry.
	AccountID, Region string
	// Concurrency is how many repositories are restored at once (default 4).
	Concurrency int
	Logger      *slog.Logger
}

// Run restores every selected repository that has an archived write. A
// repository that fails or is refused is counted and listed; it never
// stops the run. Run returns an error only for a bad selection or options,
// an archive it cannot list, or ctx done before it starts.
func (r *Runner) Run(ctx context.Context, opts Options) (Summary, error) {
	var sum Summary
	sel := opts.Selection
	switch {
	case r.AccountID == "" || r.Region == "":
		return sum, errors.New("restore: account id and region are required")
	case sel.Repository != "" && sel.Prefix != "":
		return sum, fmt.Errorf("restore: repository %q and prefix %q both set; choose one", sel.Repository, sel.Prefix)
	case opts.RunID == "":
		return sum, errors.New("restore: a run id is required; it names the run in the archive")
	case r.Exemptions == nil && !opts.EnforcerDryRun:
		return sum, ErrNoExemptions
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("restore: %w", err)
	}
	entries, err := r.Archive.List(ctx, archive.Query{
		AccountID: r.AccountID, Region: r.Region, Repository: sel.Repository, Prefix: sel.Prefix, After: sel.After,
	})
	if err != nil {
		return sum, fmt.Errorf("restore: %w", err)
	}
	targets := choose(entries, !sel.After.IsZero())
	if len(targets) == 0 && sel.Repository != "" {
		// Asked for by name, a repository with nothing to restore is a
		// failure the operator must see, not an empty table.
		res := Result{Repository: sel.Repository, Action: Failed, Reason: "no archived write to restore" + afterText(sel.After)}
		r.report(ctx, opts, res)
		sum.record(res)
		sum.Complete = true
		return sum, nil
	}

	if opts.OnSelected != nil {
		opts.OnSelected(len(targets))
	}
	workers := r.Concurrency
	if workers <= 0 {
		workers = 4
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, workers)
	)
	started := 0
	for _, e := range targets {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func(e archive.Entry) {
			defer func() { <-sem; wg.Done() }()
			res := r.restore(ctx, e, opts)
			mu.Lock()
			defer mu.Unlock()
			sum.record(res)
			r.report(ctx, opts, res)
		}(e)
	}
	wg.Wait()
	sum.Complete = started == len(targets)
	return sum, nil
}

func afterText(after time.Time) string {
	if after.IsZero() {
		return ""
	}
	return " after " + after.UTC().Format(time.RFC3339)
}

// choose picks, for each repository, the archived write to undo: the
// earliest after the selection's time when it has one (the entries are
// already those after it), the latest otherwise. Entries come in key
// order, each repository's oldest first; records a restore wrote are
// never chosen.
func choose(entries []archive.Entry, earliest bool) []archive.Entry {
	picked := map[string]archive.Entry{}
	for _, e := range entries {
		if e.Mode == Mode {
			continue
		}
		if _, ok := picked[e.Repository]; ok && earliest {
			continue
		}
		picked[e.Repository] = e
	}
	out := make([]archive.Entry, 0, len(picked))
	for _, e := range picked {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repository < out[j].Repository })
	return out
}

// step is the write a restore needs.
type step int

const (
	none step = iota
	set
	remove
)

// plan decides the write that makes a repository holding current (nil:
// no policy) hold want (nil: no policy). Policies are compared parsed, as
// ECR reformats what it stores; one that does not parse is compared as
// text, so an unreadable policy is still put back.
func plan(current, want *string) step {
	switch {
	case want == nil && current == nil:
		return none
	case want == nil:
		return remove
	case current == nil:
		return set
	case *current == *want:
		return none
	}
	c, cerr := policy.Parse(*current)
	w, werr := policy.Parse(*want)
	if cerr == nil && werr == nil && policy.Equal(c, w) {
		return none
	}
	return set
}

func (r *Runner) restore(ctx context.Context, e archive.Entry, opts Options) Result {
	res := Result{Repository: e.Repository, From: e.Key}
	fail := func(format string, args ...any) Result {
		res.Action, res.Reason = Failed, fmt.Sprintf(format, args...)
		return res
	}
	rec, err := r.Archive.Get(ctx, e.Key)
	if err != nil {
		return fail("%v", err)
	}
	current, err := r.current(ctx, e.Repository)
	if isRepoNotFound(err) {
		res.Action, res.Reason = Skipped, "repository not found (deleted since the archived write)"
		return res
	}
	if err != nil {
		return fail("get policy: %v", err)
	}
	if res.Diff, err = policydiff.Compare(aws.ToString(current), aws.ToString(rec.Previous)); err != nil {
		res.Reason = "no statement diff: " + err.Error() + "; "
	}
	todo := plan(current, rec.Previous)
	if todo == none {
		res.Action = Unchanged
		res.Reason += "repository already holds the policy it had before the archived write"
		return res
	}
	if !opts.EnforcerDryRun {
		repo := ecrevent.Repository{
			RegistryID: r.AccountID, Region: r.Region, Name: e.Repository,
			ARN: ecrevent.RepositoryARN(r.Region, r.AccountID, e.Repository),
		}
		exempt, err := r.Exemptions.Exempt(ctx, repo)
		if err != nil {
			return fail("exemption check: %v", err)
		}
		if !exempt {
			res.Action = Refused
			res.Reason += "repository is not exempt: the enforcer would apply the baseline again as soon as the restore writes; " +
				"exempt it (tag or name pattern) first, or restore while the stack is in dry-run"
			return res
		}
	}
	if opts.DryRun {
		res.Action = WouldRestore
		return res
	}
	put, err := r.Archive.Put(ctx, archive.Record{
		AccountID: r.AccountID, Region: r.Region, Repository: e.Repository,
		Previous: current, New: rec.Previous, Trigger: opts.RunID, Mode: Mode,
	})
	if err != nil {
		return fail("%v; nothing written", err)
	}
	res.Archived = put.Key
	if err := r.write(ctx, e.Repository, todo, rec.Previous); isRepoNotFound(err) {
		res.Action, res.Reason = Skipped, "repository not found (deleted since the archived write)"
		return res
	} else if err != nil {
		return fail("%v", err)
	}
	res.Action = Restored
	return res
}

// current is the repository's policy, nil when it has none.
func (r *Runner) current(ctx context.Context, name string) (*string, error) {
	out, err := r.ECR.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{
		RegistryId: aws.String(r.AccountID), RepositoryName: aws.String(name),
	})
	var noPolicy *types.RepositoryPolicyNotFoundException
	if errors.As(err, &noPolicy) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out.PolicyText, nil
}

func (r *Runner) write(ctx context.Context, name string, todo step, text *string) error {
	if todo == set {
		if _, err := r.ECR.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{
			RegistryId: aws.String(r.AccountID), RepositoryName: aws.String(name), PolicyText: text,
		}); err != nil {
			return fmt.Errorf("set policy: %w", err)
		}
		return nil
	}
	_, err := r.ECR.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{
		RegistryId: aws.String(r.AccountID), RepositoryName: aws.String(name),
	})
	// Gone already (another writer deleted it since the read): the state
	// asked for holds.
	var noPolicy *types.RepositoryPolicyNotFoundException
	if err != nil && !errors.As(err, &noPolicy) {
		return fmt.Errorf("delete policy: %w", err)
	}
	return nil
}

// report logs one line per repository and hands the result to OnResult.
func (r *Runner) report(ctx context.Context, opts Options, res Result) {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	level := slog.LevelInfo
	switch res.Action {
	case Refused:
		level = slog.LevelWarn
	case Failed:
		level = slog.LevelError
	}
	log.Log(ctx, level, "restore", "repository", res.Repository, "action", res.Action, "reason", res.Reason,
		"from", res.From, "archived", res.Archived, "diff", res.Diff.String(), "dry_run", opts.DryRun, "run_id", opts.RunID)
	if opts.OnResult != nil {
		opts.OnResult(res)
	}
}

func isRepoNotFound(err error) bool {
	var nf *types.RepositoryNotFoundException
	return errors.As(err, &nf)
}
