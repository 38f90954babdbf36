package enforcer

import (
	"errors"
	"fmt"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
)

// decision is what enforcement does to a repository whose policy was read:
// Applied (write Policy), WouldApply (the same, in a dry run) or Unchanged.
type decision struct {
	Action Action
	Reason string
	// Policy is the text to write; set only when Action is Applied.
	Policy string
	// Diff is what the write changes, for Applied and WouldApply alike, so
	// a dry run shows what a write would do.
	Diff policydiff.Diff
}

// decide compares the policy a repository holds (current, "" when it has
// none) with the rendered baseline and says what to write and why. It is
// the whole enforcement decision, free of I/O: the guard on the baseline
// itself runs before the read (see Enforcer.enforce), so only the
// statements merge mode keeps are checked here, by guard (whose Force
// lets them through).
//
// written, in merge mode, is the policy a team's SetRepositoryPolicy set
// ("" for other events): its statements current lacks were lost to a write
// that read the repository before the team's landed, and are put back.
func decide(current, written, rendered string, mode Mode, guard policy.Guard, dryRun bool) (decision, error) {
	want := rendered
	if mode == Merge {
		kept, err := policy.Restore(current, written)
		if err != nil {
			return decision{}, fmt.Errorf("merge: %w; left as it is (fix the policy or use replace mode)", err)
		}
		merged, err := policy.Merge(kept, rendered)
		if errors.Is(err, policy.ErrUnmergeable) {
			// Replacing it would drop statements its team wrote; merge
			// mode promises to keep them, so the repository is left as it
			// is and listed for a person to fix.
			return decision{}, fmt.Errorf("merge: %w; left as it is (fix the policy or use replace mode)", err)
		}
		if err != nil {
			return decision{}, fmt.Errorf("merge: %w", err)
		}
		want = merged
	}
	wantDoc, err := policy.Parse(want)
	if err != nil {
		return decision{}, fmt.Errorf("policy to write: %w", err)
	}
	d := decision{Action: Applied, Reason: "repository had no policy", Policy: want, Diff: policydiff.Documents(nil, wantDoc)}
	if current != "" {
		curDoc, perr := policy.Parse(current)
		switch {
		case perr != nil:
			// An unreadable policy has no statements to name; all of the
			// new policy's are shown as added.
			d.Reason = "stored policy unreadable: " + perr.Error()
		case policy.Equal(curDoc, wantDoc):
			return decision{Action: Unchanged}, nil
		default:
			d.Reason = "policy differs from baseline"
			d.Diff = policydiff.Documents(curDoc, wantDoc)
		}
	}
	// ECR refuses, without force, any policy that locks the caller out,
	// including one whose lock-out comes from the statements merge mode
	// keeps: without force the write would fail on every attempt.
	if mode == Merge && !guard.Force {
		if err := guard.CheckLockOut(wantDoc); err != nil {
			return decision{}, fmt.Errorf("merged policy: %w", err)
		}
	}
	if dryRun {
		d.Action, d.Policy = WouldApply, ""
	}
	return d, nil
}
