package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrLockOut marks a policy that could stop this account from setting the
// repository policy again. SetRepositoryPolicy refuses such a policy unless
// its force flag is set, and the enforcer refuses it unless the operator
// sets force, so the check runs before any write.
var ErrLockOut = errors.New("policy would lock this account out of setting the repository policy")

// setPolicyAction is the call a lock-out denies.
const setPolicyAction = "ecr:SetRepositoryPolicy"

// LocksOut returns one reason for each statement of doc that could deny
// this account's own principals ecr:SetRepositoryPolicy, or nil when none
// could. A statement counts when it is a Deny without a Condition, its
// Action matches ecr:SetRepositoryPolicy (IAM wildcards * and ?, any case)
// or its NotAction does not, and its principal could include the
// enforcer's role. LocksOut does not know that role, so it is conservative:
// Principal "*", any AWS principal and any NotPrincipal count, and only
// a Condition, which may scope the Deny to other callers, clears a
// statement.
func LocksOut(doc *Document) []string {
	if doc == nil {
		return nil
	}
	var reasons []string
	for _, st := range doc.Statement {
		if reason, ok := st.lockOut(); ok {
			reasons = append(reasons, reason)
		}
	}
	return reasons
}

// CheckLockOut returns an error wrapping ErrLockOut that lists every reason
// LocksOut gives, or nil when doc can be applied without force.
func CheckLockOut(doc *Document) error {
	reasons := LocksOut(doc)
	if len(reasons) == 0 {
		return nil
	}
	errs := make([]error, len(reasons))
	for i, r := range reasons {
		errs[i] = errors.New(r)
	}
	return fmt.Errorf("%w: %w", ErrLockOut, errors.Join(errs...))
}

// lockOut says why s could deny this account ecr:SetRepositoryPolicy.
func (s Statement) lockOut() (string, bool) {
	if !strings.EqualFold(s.Effect, "Deny") || hasCondition(s.Condition) {
		return "", false
	}
	who, ok := s.deniedPrincipals()
	if !ok {
		return "", false
	}
	what, ok := s.deniedSetPolicy()
	if !ok {
		return "", false
	}
	name := "a statement without a Sid"
	if s.Sid != "" {
		name = fmt.Sprintf("statement %q", s.Sid)
	}
	return fmt.Sprintf("%s: Deny %s for %s without a Condition would stop this account from setting the policy again; set force to apply it anyway", name, what, who), true
}

// hasCondition reports whether a Condition holds at least one key: an empty
// block, or an operator with no keys, scopes nothing.
func hasCondition(cond map[string]map[string][]string) bool {
	for _, keys := range cond {
		if len(keys) > 0 {
			return true
		}
	}
	return false
}

// deniedPrincipals describes the principals s applies to when they could
// include this account's own roles.
func (s Statement) deniedPrincipals() (string, bool) {
	if s.NotPrincipal != nil {
		return "everyone but " + principalText(s.NotPrincipal), true
	}
	if s.Principal == nil {
		return "", false
	}
	if s.Principal.Wildcard {
		return principalText(s.Principal), true
	}
	for typ, ids := range s.Principal.IDs {
		// Only the AWS type names IAM users and roles; a Service or
		// Federated principal cannot be the enforcer.
		if strings.EqualFold(typ, "AWS") && len(ids) > 0 {
			return principalText(s.Principal), true
		}
	}
	return "", false
}

func principalText(p *Principal) string {
	// A Principal marshals "*" or a map of string lists, which cannot fail.
	b, _ := json.Marshal(p)
	return string(b)
}

// deniedSetPolicy describes the actions of s that cover
// ecr:SetRepositoryPolicy.
func (s Statement) deniedSetPolicy() (string, bool) {
	var matched []string
	for _, a := range s.Action {
		if wildcardMatch(a, setPolicyAction) {
			matched = append(matched, a)
		}
	}
	if len(matched) > 0 {
		return strings.Join(matched, ", "), true
	}
	if len(s.NotAction) == 0 {
		return "", false
	}
	for _, a := range s.NotAction {
		if wildcardMatch(a, setPolicyAction) {
			return "", false
		}
	}
	return "every action but " + strings.Join(s.NotAction, ", "), true
}

// wildcardMatch matches name against an IAM action pattern, where * stands
// for any run of characters and ? for one, ignoring case as IAM does for
// action names. It backtracks only to the last *, so it runs in time
// proportional to len(pattern)*len(name) at worst, whatever the pattern.
func wildcardMatch(pattern, name string) bool {
	p, n := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(name))
	pi, ni := 0, 0
	star, resume := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, resume = pi, ni
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case star >= 0:
			// Let the last * swallow one more character and retry.
			resume++
			pi, ni = star+1, resume
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
