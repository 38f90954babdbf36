package policy

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalid marks every validation failure, so callers can tell a bad
// baseline from an AWS error with errors.Is.
var ErrInvalid = errors.New("invalid repository policy")

var ecrAction = regexp.MustCompile(`^(\*|ecr:[a-z*?]+)$`)

// Validate checks policy text against what SetRepositoryPolicy accepts for a
// baseline: at most MaxLength characters, a known Version, at least one
// statement, Effect Allow or Deny, a principal, ecr actions only, unique Sids
// and no Resource element (ECR scopes a repository policy to its repository
// and is reported to reject Resource). It returns the parsed document, or an
// error wrapping ErrInvalid that lists every problem found.
func Validate(text string) (*Document, error) {
	if n := utf8.RuneCountInString(text); n > MaxLength {
		return nil, fmt.Errorf("%w: %d characters, ECR accepts at most %d", ErrInvalid, n, MaxLength)
	}
	doc, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var problems []error
	if doc.Version != Version2008 && doc.Version != Version2012 {
		problems = append(problems, fmt.Errorf("Version must be %q or %q, got %q", Version2012, Version2008, doc.Version))
	}
	if len(doc.Statement) == 0 {
		problems = append(problems, errors.New("policy needs at least one statement"))
	}
	sids := map[string]bool{}
	for i, st := range doc.Statement {
		where := fmt.Sprintf("statement %d", i+1)
		if st.Sid != "" {
			where = fmt.Sprintf("statement %q", st.Sid)
			if sids[st.Sid] {
				problems = append(problems, fmt.Errorf("%s: Sid is used twice", where))
			}
			sids[st.Sid] = true
		}
		for _, p := range st.problems() {
			problems = append(problems, fmt.Errorf("%s: %s", where, p))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(problems...))
	}
	return doc, nil
}

func (s Statement) problems() []string {
	var out []string
	if s.Effect != "Allow" && s.Effect != "Deny" {
		out = append(out, fmt.Sprintf("Effect must be Allow or Deny, got %q", s.Effect))
	}
	if (s.Principal == nil) == (s.NotPrincipal == nil) {
		out = append(out, "needs exactly one of Principal or NotPrincipal")
	}
	for _, p := range []struct {
		element string
		value   *Principal
	}{{"Principal", s.Principal}, {"NotPrincipal", s.NotPrincipal}} {
		out = append(out, p.value.emptiness(p.element)...)
	}
	if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
		out = append(out, "needs exactly one of Action or NotAction")
	}
	for _, a := range append(append([]string{}, s.Action...), s.NotAction...) {
		if !ecrAction.MatchString(a) {
			out = append(out, fmt.Sprintf("action %q is not an ecr: action", a))
		}
	}
	if len(s.Resource) > 0 || len(s.NotResource) > 0 {
		out = append(out, "Resource is not allowed in a repository policy (the policy applies to its repository); remove it")
	}
	return out
}

// emptiness finds principals that name no one: IAM refuses {} and
// {"AWS":[]}, and an empty identifier is a template variable that rendered
// to nothing or a typo. p may be nil.
func (p *Principal) emptiness(element string) []string {
	if p == nil || p.Wildcard {
		return nil
	}
	if len(p.IDs) == 0 {
		return []string{element + " names no principal type"}
	}
	var out []string
	for _, typ := range slices.Sorted(maps.Keys(p.IDs)) {
		ids := p.IDs[typ]
		if len(ids) == 0 {
			out = append(out, fmt.Sprintf("%s %q lists no one", element, typ))
		}
		for _, id := range ids {
			if strings.TrimSpace(id) == "" {
				out = append(out, fmt.Sprintf("%s %q has an empty identifier", element, typ))
				break
			}
		}
	}
	return out
}
