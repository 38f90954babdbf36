// Package backfill enforces the baseline on every existing repository:
// it pages through DescribeRepositories, enforces each repository with
// bounded concurrency, and stops cleanly before a deadline with a
// continuation token from which the next run resumes.
package backfill

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-baseline/ecr-baseline/internal/pool"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
)

var (
	// ErrBadToken is returned for a continuation token this package did not make.
	ErrBadToken = errors.New("invalid continuation token")
	// ErrNoTime is returned when a run starts too close to its deadline to
	// enforce anything (a function timeout shorter than the stop margin).
	ErrNoTime = errors.New("backfill: no time to enforce any repository")
)

// Lister is the ECR call backfill makes to find repositories.
type Lister interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// Enforcer enforces the baseline on one repository.
type Enforcer interface {
	Enforce(ctx context.Context, repo ecrevent.Repository) (enforcer.Result, error)
}

// Options shape one backfill run.
type Options struct {
	// Prefix limits the run to repositories whose name starts with it.
	Prefix string
	// Token resumes a run from where an earlier one stopped.
	Token string
	// StopBefore is how long before the context's deadline the run stops
	// starting repositories, leaving time for those in flight to finish
	// and the summary to be returned.
	StopBefore time.Duration
	// Stop, when set, replaces that deadline check as the run's decision to
	// stop starting repositories (a cancelled ctx always stops it). It is
	// asked before each repository and each page, so a test can stop a run
	// after a number of repositories instead of racing a real deadline.
	Stop func() bool
	// DryRun reports what would change and writes nothing.
	DryRun bool
	// OnResult, when set, sees every result as it happens (progress, tables).
	OnResult func(enforcer.Result)
}

// Failure is one repository that could not be enforced.
type Failure struct {
	Repository string `json:"repository"`
	Reason     string `json:"reason"`
}

// Summary is what a backfill run did.
type Summary struct {
	Scanned int `json:"scanned"`
	// Tally's counts are fields of the summary's JSON.
	enforcer.Tally
	Failures []Failure `json:"failures,omitempty"`
	// WouldApplyRepositories names the repositories a dry run would
	// write: the report an operator reads before opting in.
	WouldApplyRepositories []string `json:"wouldApplyRepositories,omitempty"`
	// Complete is false when the run stopped early; NextToken resumes it.
	Complete  bool   `json:"complete"`
	NextToken string `json:"nextToken,omitempty"`
}

// Add folds another run's counts into s, for operators that resume.
func (s *Summary) Add(o Summary) {
	s.Scanned += o.Scanned
	s.Tally.Add(o.Tally)
	s.Failures = append(s.Failures, o.Failures...)
	s.WouldApplyRepositories = append(s.WouldApplyRepositories, o.WouldApplyRepositories...)
	s.Complete, s.NextToken = o.Complete, o.NextToken
}

func (s *Summary) record(r enforcer.Result) {
	s.Scanned++
	s.Count(r.Action)
	switch r.Action {
	case enforcer.Failed:
		s.Failures = append(s.Failures, Failure{Repository: r.Repository, Reason: r.Reason})
	case enforcer.WouldApply:
		s.WouldApplyRepositories = append(s.WouldApplyRepositories, r.Repository)
	}
}

// position is where a run stopped: the DescribeRepositories token of the
// page being worked on, how many of its repositories were done, and the
// name of the last one, so a page that shifted since can be re-aligned.
// When that last repository is gone by the time the run resumes, the page
// is done again from its start: repeating repositories costs reads (and
// enforcing twice is idempotent) where trusting the offset could skip some.
type position struct {
	PageToken string `json:"p,omitempty"`
	Offset    int    `json:"o"`
	Last      string `json:"l,omitempty"`
	Prefix    string `json:"x,omitempty"`
}

func (p position) encode() string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePosition(token string) (position, error) {
	var p position
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.Offset < 0 {
		return p, fmt.Errorf("%w: %q", ErrBadToken, token)
	}
	return p, nil
}

// Runner runs backfills against the caller's registry.
type Runner struct {
	ECR Lister
	// Enforcer writes; DryRunEnforcer only reports, for dry runs.
	Enforcer       Enforcer
	DryRunEnforcer Enforcer
	// Region is the region the ECR client talks to.
	Region string
	// Concurrency is how many repositories are enforced at once (default 8).
	Concurrency int
}

// Run enforces every repository in scope, or as many as fit before the
// deadline or before ctx is cancelled (Ctrl-C). A repository that fails is
// counted and listed; it never stops the run. A stopped run starts no more
// repositories, lets those in flight end, and returns the partial summary
// with a NextToken. Run returns an error only when it cannot list
// repositories, the token is invalid, ctx is done before it starts, or the
// deadline leaves no time to enforce any repository (ErrNoTime).
func (r *Runner) Run(ctx context.Context, opts Options) (Summary, error) {
	var sum Summary
	pos := position{Prefix: opts.Prefix}
	if opts.Token != "" {
		var err error
		if pos, err = decodePosition(opts.Token); err != nil {
			return sum, err
		}
		if pos.Prefix != opts.Prefix {
			return sum, fmt.Errorf("%w: it was made for prefix %q, not %q", ErrBadToken, pos.Prefix, opts.Prefix)
		}
	}
	workers := r.Concurrency
	if workers <= 0 {
		workers = 8
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("backfill: %w", err)
	}
	stop := opts.Stop
	if stop == nil {
		stop = NearDeadline(ctx, opts.StopBefore, nil)
	}
	stopping := func() bool { return ctx.Err() != nil || stop() }
	// A run that starts inside its stop margin would hand back the token it
	// was given, and a run that continues itself would loop on it.
	if stopping() {
		return sum, fmt.Errorf("%w: the run was told to stop before it started (less than the %s stop margin left before the deadline)", ErrNoTime, opts.StopBefore)
	}

	for {
		// DescribeRepositories is paged by hand, not with the SDK paginator,
		// because the token of the current page is part of the
		// continuation token.
		in := &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1000)}
		if pos.PageToken != "" {
			in.NextToken = aws.String(pos.PageToken)
		}
		out, err := r.ECR.DescribeRepositories(ctx, in)
		// Cancelled while listing: what is done so far still stands.
		if err != nil && errors.Is(ctx.Err(), context.Canceled) {
			sum.NextToken = pos.encode()
			return sum, nil
		}
		if err != nil {
			return sum, fmt.Errorf("backfill: describe repositories: %w", err)
		}
		repos := make([]ecrevent.Repository, len(out.Repositories))
		names := make([]string, len(out.Repositories))
		for i, repo := range out.Repositories {
			names[i] = aws.ToString(repo.RepositoryName)
			repos[i] = ecrevent.Repository{
				RegistryID: aws.ToString(repo.RegistryId), Region: r.Region,
				Name: names[i], ARN: aws.ToString(repo.RepositoryArn),
			}
		}
		start := realign(names, pos)
		done := r.enforcePage(ctx, repos[start:], opts, workers, stopping, &sum)
		if start+done < len(names) {
			// Nothing handled on this page: resume at its start with no
			// name to look for, or a repository recreated under the old
			// name would send the resumed run past ones never done.
			last := ""
			if start+done > 0 {
				last = names[start+done-1]
			}
			sum.NextToken = position{PageToken: pos.PageToken, Offset: start + done, Last: last, Prefix: opts.Prefix}.encode()
			return sum, nil
		}
		if out.NextToken == nil {
			sum.Complete = true
			return sum, nil
		}
		pos = position{PageToken: *out.NextToken, Prefix: opts.Prefix}
		if stopping() {
			sum.NextToken = pos.encode()
			return sum, nil
		}
	}
}

// NearDeadline is the default stop decision: true once ctx's deadline, if
// it has one, is less than margin away by now (time.Now when nil).
func NearDeadline(ctx context.Context, margin time.Duration, now func() time.Time) func() bool {
	if now == nil {
		now = time.Now
	}
	deadline, ok := ctx.Deadline()
	return func() bool { return ok && deadline.Sub(now()) < margin }
}

// realign finds where to resume in a page: right after the last repository
// done, wherever it now stands. When it is gone (deleted since), the
// recorded offset can no longer be trusted, since repositories before it
// may be gone too and the offset would then skip ones never done: the page
// restarts from its first repository instead.
func realign(names []string, pos position) int {
	if pos.Offset > 0 && pos.Offset <= len(names) && names[pos.Offset-1] == pos.Last {
		return pos.Offset
	}
	for i, n := range names {
		if n == pos.Last {
			return i + 1
		}
	}
	return 0
}

// enforcePage enforces repos in order with up to workers at once and
// returns how many leading repos were handled. It stops starting new ones
// once stopping reports true; those already started always finish, so the
// handled ones are exactly a prefix of repos. A repository whose
// enforcement was cut by cancellation is reported as it ended, but the
// prefix ends before it, so the resumed run enforces it again rather than
// leave it out.
func (r *Runner) enforcePage(ctx context.Context, repos []ecrevent.Repository, opts Options, workers int, stopping func() bool, sum *Summary) int {
	enf := r.Enforcer
	if opts.DryRun {
		enf = r.DryRunEnforcer
	}
	// Repositories outside the prefix are handled by being passed over.
	var inScope []int
	for i, repo := range repos {
		if strings.HasPrefix(repo.Name, opts.Prefix) {
			inScope = append(inScope, i)
		}
	}
	var mu sync.Mutex
	cut := len(repos)
	started := pool.Run(inScope, workers, stopping, func(_, i int) {
		res, err := enf.Enforce(ctx, repos[i])
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, context.Canceled) {
			cut = min(cut, i)
		}
		sum.record(res)
		if opts.OnResult != nil {
			opts.OnResult(res)
		}
	})
	handled := len(repos)
	if started < len(inScope) {
		handled = inScope[started]
	}
	return min(handled, cut)
}
