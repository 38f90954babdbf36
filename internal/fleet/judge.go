package fleet

import (
	"context"
	"fmt"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/sweep"
)

// Verdict is what a sweep left, read back from moto.
type Verdict struct {
	// Dead maps each dead-lettered repository to its reason.
	Dead map[string]string
	// Needed counts the repositories the sweep had cause to write: not
	// compliant when seeded, neither deleted nor dead-lettered. A sweep
	// that wrote more wrote some twice.
	Needed int
	// Problems are the repositories left in a state no outcome explains,
	// and dead letters that are not one repository's item with a reason.
	Problems []string
}

// JudgeSweep checks that every repository of repos ended in exactly one
// accounted state: deleted (gone, and not dead-lettered), dead-lettered
// as it was seeded, or compliant. dead are the sweep dead-letter queue's
// messages.
func (f *Fleet) JudgeSweep(ctx context.Context, repos []Repo, gone map[string]bool, dead []moto.Message) (Verdict, error) {
	v := Verdict{Dead: map[string]string{}}
	for _, d := range dead {
		it, err := sweep.Decode(d.Body)
		switch {
		case err != nil || it.Kind != sweep.KindEnforce:
			v.Problems = append(v.Problems, fmt.Sprintf("dead letter %q (%v) is not an enforce item: a page was never listed", d.Body, err))
			continue
		case d.Attributes[sweep.AttributeReason] == "":
			v.Problems = append(v.Problems, it.Repository+" dead-lettered without a reason")
		}
		if _, twice := v.Dead[it.Repository]; twice {
			v.Problems = append(v.Problems, it.Repository+" dead-lettered twice")
		}
		v.Dead[it.Repository] = d.Attributes[sweep.AttributeReason]
	}
	var names []string
	for _, r := range repos {
		if !gone[r.Name] {
			names = append(names, r.Name)
		}
	}
	held, err := f.ReadBack(ctx, names)
	if err != nil {
		return v, err
	}
	for _, r := range repos {
		reason, isDead := v.Dead[r.Name]
		switch {
		case gone[r.Name]:
			if isDead {
				v.Problems = append(v.Problems, fmt.Sprintf("%s was deleted, yet dead-lettered: %s", r.Name, reason))
			}
		case isDead && !SamePolicy(held[r.Name].Policy, r.Policy):
			v.Problems = append(v.Problems, fmt.Sprintf("%s is dead-lettered (%s) but was changed to %q", r.Name, reason, held[r.Name].Policy))
		case isDead:
		case !held[r.Name].Compliant:
			v.Problems = append(v.Problems, fmt.Sprintf("%s is neither dead-lettered nor compliant: holds %q", r.Name, held[r.Name].Policy))
		default:
			if ok, err := f.compliant(r.Name, r.Policy); err != nil {
				return v, err
			} else if !ok {
				v.Needed++
			}
		}
	}
	return v, nil
}

// SamePolicy reports whether two policy texts mean the same ("" is none).
func SamePolicy(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	da, err := policy.Parse(a)
	if err != nil {
		return false
	}
	db, err := policy.Parse(b)
	return err == nil && policy.Equal(da, db)
}

// Open is a policy a team might have set: everyone may do anything. The
// baseline replaces it.
const Open = `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`

// Mixed is a fleet to sweep: none repositories without a policy, foreign
// holding Open and compliant holding the baseline already, named
// prefix/none-000, prefix/foreign-000 and prefix/ok-000 onwards.
func (f *Fleet) Mixed(prefix string, none, foreign, compliant int) ([]Repo, error) {
	var repos []Repo
	for i := range none {
		repos = append(repos, Repo{Name: fmt.Sprintf("%s/none-%03d", prefix, i)})
	}
	for i := range foreign {
		repos = append(repos, Repo{Name: fmt.Sprintf("%s/foreign-%03d", prefix, i), Policy: Open})
	}
	for i := range compliant {
		name := fmt.Sprintf("%s/ok-%03d", prefix, i)
		text, err := f.Rendered(name)
		if err != nil {
			return nil, err
		}
		repos = append(repos, Repo{Name: name, Policy: text})
	}
	return repos, nil
}
