package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// ErrLockOut marks a policy that could stop the enforcer from setting the
// repository policy again, or from the reads that come before a write.
// SetRepositoryPolicy refuses a policy that denies the caller the write
// unless its force flag is set, and the enforcer refuses either kind
// unless the operator sets force, so the check runs before any write.
var ErrLockOut = errors.New("policy would lock this account out of setting the repository policy")

// EnforcerActions are the ECR calls the enforcer makes on repositories. A
// policy that denies any of them to the enforcer's role stops it reading
// or writing the repositories that carry it, so not even a corrected
// baseline could be rolled out. A feature that makes a new ECR call adds
// it here in the same change.
var EnforcerActions = []string{
	"ecr:GetRepositoryPolicy",
	setPolicyAction,
	"ecr:ListTagsForResource",
	"ecr:DescribeRepositories",
}

// guardedActions are the calls a baseline must not deny the enforcer's
// role: its own, and ecr:DeleteRepositoryPolicy, with which a restore puts
// back "no policy" (pkg/restore), so a baseline cannot block its own
// rollback.
var guardedActions = append(slices.Clone(EnforcerActions), "ecr:DeleteRepositoryPolicy")

// setPolicyAction is the call a lock-out in ECR's own sense denies.
const setPolicyAction = "ecr:SetRepositoryPolicy"

// LocksOut returns one reason for each statement of doc that could deny the
// enforcer one of EnforcerActions, or nil when none could. A statement
// counts when it is a Deny; its Action matches one of them (IAM wildcards
// * and ?, any case) or its NotAction leaves one out; its principal could
// be the enforcer's role (see mayBeSelf); and every key of its Condition
// holds for the enforcer's own calls (see holds): a Condition that may be
// false for them scopes the Deny to other callers.
func (g Guard) LocksOut(doc *Document) []string {
	if doc == nil {
		return nil
	}
	return g.locksOut(doc.Statement, false)
}

// CheckLockOut returns an error wrapping ErrLockOut that lists every reason
// LocksOut gives, or nil when doc can be applied without force.
func (g Guard) CheckLockOut(doc *Document) error {
	return joinReasons(ErrLockOut, g.LocksOut(doc))
}

// locksOut names a statement by its position only when stmts are in the
// order they were written.
func (g Guard) locksOut(stmts []Statement, ordered bool) []string {
	var reasons []string
	for i, st := range stmts {
		if !ordered {
			i = -1
		}
		if reason, ok := g.lockOut(st); ok {
			reasons = append(reasons, statementName(st, i)+": "+reason)
		}
	}
	return reasons
}

// lockOut says why s could deny the enforcer, or the caller writing
// beside it, one of guardedActions.
func (g Guard) lockOut(s Statement) (string, bool) {
	if reason, ok := g.lockOutOne(s); ok || g.CallerARN == "" {
		return reason, ok
	}
	caller := g
	caller.SelfRoleARN, caller.CallerARN, caller.SelfRoleNameGenerated, caller.memberRole = g.CallerARN, "", false, ""
	return caller.lockOutOne(s)
}

// lockOutOne says why s could deny the enforcer g knows one of
// guardedActions.
func (g Guard) lockOutOne(s Statement) (string, bool) {
	if !strings.EqualFold(s.Effect, "Deny") {
		return "", false
	}
	who, ok := g.deniedPrincipals(s)
	if !ok {
		return "", false
	}
	what, blocked := s.deniedEnforcerActions()
	if len(blocked) == 0 {
		return "", false
	}
	when, ok := g.conditionHolds(s.Condition)
	if !ok {
		return "", false
	}
	consequence := "calling " + strings.Join(blocked, ", ")
	if slices.Contains(blocked, setPolicyAction) {
		consequence = "setting the policy again"
	}
	return fmt.Sprintf("Deny %s for %s %s would stop this account from %s; set force to apply it anyway", what, who, when, consequence), true
}

// deniedPrincipals describes the principals s applies to when they could
// include the enforcer's role.
func (g Guard) deniedPrincipals(s Statement) (string, bool) {
	if s.NotPrincipal != nil {
		if slices.ContainsFunc(awsIDs(s.NotPrincipal), g.spares) {
			return "", false
		}
		return "everyone but " + principalText(s.NotPrincipal), true
	}
	if s.Principal == nil {
		return "", false
	}
	if s.Principal.Wildcard || slices.ContainsFunc(awsIDs(s.Principal), g.mayBeSelf) {
		return principalText(s.Principal), true
	}
	return "", false
}

// awsIDs are a principal's AWS identifiers: only the AWS type names IAM
// users and roles, so a Service or Federated principal cannot be the
// enforcer.
func awsIDs(p *Principal) []string {
	var ids []string
	for typ, list := range p.IDs {
		if strings.EqualFold(typ, "AWS") {
			ids = append(ids, list...)
		}
	}
	return ids
}

var (
	digits  = regexp.MustCompile(`[0-9]+`)
	roleARN = regexp.MustCompile(`^arn:[a-z-]+:(?:iam::[0-9]{12}:role/(?:[^/]*/)*([^/]+)|sts::[0-9]{12}:assumed-role/([^/]+)/[^/]+)$`)
	userARN = regexp.MustCompile(`^arn:[a-z-]+:iam::[0-9]{12}:user/`)
)

// roleOf returns the role name of an IAM role ARN or an STS assumed-role
// ARN, or "".
func roleOf(arn string) string {
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// mayBeSelf reports whether an AWS principal in a Deny could be the
// enforcer's role: "*", an account principal (in a Deny it covers every
// identity of the account), and the enforcer's role or one of its sessions.
// Without SelfRoleARN any principal of the account might be it, unless the
// role's name is generated: then no role or user named literally is; a
// principal of another account never is.
func (g Guard) mayBeSelf(id string) bool {
	if id == "*" {
		return true
	}
	acct := id
	if m := arnAccount.FindStringSubmatch(id); m != nil {
		acct = m[1]
	}
	own := g.account()
	if accountID.MatchString(acct) && own != "" && acct != own {
		return false
	}
	switch {
	case accountID.MatchString(id):
		return true
	case g.selfName() != "":
		return g.isSelf(id)
	case g.SelfRoleNameGenerated:
		return roleOf(id) == "" && !userARN.MatchString(id)
	}
	return true
}

// spares reports whether a NotPrincipal identifier keeps the enforcer out
// of a Deny: only "*". IAM spares a role session from a Deny with
// NotPrincipal only when the list holds the session's own ARN, which
// names the session (the function's name, the CLI's session), besides the
// role and the account, and no wildcard may stand for it; the guard does
// not know the session, so an exception for the enforcer is written as a
// Condition on aws:PrincipalArn, which it judges.
func (g Guard) spares(id string) bool {
	return id == "*"
}

// selfName is the name of the enforcer's role, or "" when it is not known.
func (g Guard) selfName() string {
	if g.SelfRoleARN != "" {
		return roleOf(g.SelfRoleARN)
	}
	return g.memberRole
}

// isSelf compares role names: IAM keeps them unique regardless of case. A
// member role is the enforcer in every account.
func (g Guard) isSelf(id string) bool {
	name := roleOf(id)
	acct := arnAccount.FindStringSubmatch(id)
	if name == "" || acct == nil || !strings.EqualFold(name, g.selfName()) {
		return false
	}
	return g.SelfRoleARN == "" || acct[1] == g.account()
}

func principalText(p *Principal) string {
	// A Principal marshals "*" or a map of string lists, which cannot fail.
	b, _ := json.Marshal(p)
	return string(b)
}

// deniedEnforcerActions describes the actions of s that cover one of
// guardedActions and lists those it covers.
func (s Statement) deniedEnforcerActions() (string, []string) {
	var matched, blocked []string
	for _, name := range guardedActions {
		covered := len(s.NotAction) > 0 && !slices.ContainsFunc(s.NotAction, func(a string) bool { return wildcardMatch(a, name) })
		for _, a := range s.Action {
			if wildcardMatch(a, name) {
				covered = true
				if !slices.Contains(matched, a) {
					matched = append(matched, a)
				}
			}
		}
		if covered {
			blocked = append(blocked, name)
		}
	}
	if len(s.NotAction) > 0 {
		return "every action but " + strings.Join(s.NotAction, ", "), blocked
	}
	slices.Sort(matched)
	return strings.Join(matched, ", "), blocked
}

// conditionHolds reports whether every key of cond holds for each call the
// enforcer makes, and describes the Condition for a message. An empty
// block, or an operator with no keys, scopes nothing.
func (g Guard) conditionHolds(cond map[string]map[string][]string) (string, bool) {
	var pairs []string
	for _, op := range slices.Sorted(maps.Keys(cond)) {
		for _, key := range slices.Sorted(maps.Keys(cond[op])) {
			if !g.holds(op, key, cond[op][key]) {
				return "", false
			}
			pairs = append(pairs, op+" "+key)
		}
	}
	if len(pairs) == 0 {
		return "without a Condition", true
	}
	return "with a Condition that holds for the enforcer's own calls (" + strings.Join(pairs, ", ") + ")", true
}

// context is what the enforcer's own calls carry for a condition key
// (lower case, as Parse keeps keys): known reports whether the key is one
// the guard can judge, and an empty value means the guard does not know
// it, or knows it only in part (see unknownHolds).
func (g Guard) context(key string) (value string, known bool) {
	switch key {
	case "aws:securetransport":
		// The SDK calls ECR over HTTPS only.
		return "true", true
	case "aws:principalarn":
		// A session's call carries its role's IAM ARN, path included,
		// which a session ARN does not give.
		if m := roleARN.FindStringSubmatch(g.SelfRoleARN); m != nil && m[1] != "" {
			return g.SelfRoleARN, true
		}
		return "", true
	case "aws:principalisawsservice", "aws:viaawsservice":
		// The enforcer calls ECR itself, with its own credentials, never
		// through another service.
		return "false", true
	case "aws:principalaccount", "aws:resourceaccount":
		// The enforcer writes to its own account's repositories (a
		// member role to its member's).
		return g.account(), true
	case "aws:requestedregion":
		// Every call goes to the repository's own region, what ${Region}
		// renders to (see holds); a region written literally may be one
		// the enforcer works in.
		return "", true
	case "aws:currenttime", "aws:epochtime", "aws:tokenissuetime":
		// Unknown, and for a Deny irrelevant (see holds).
		return "", true
	case "aws:principaltype":
		// The function calls as a role session; a CLI caller that is no
		// role (a user) calls as another type.
		if g.selfName() != "" || g.SelfRoleNameGenerated {
			return "AssumedRole", true
		}
		return "", true
	}
	return "", false
}

// unknownHolds judges a key whose value the guard knows at most in part:
// any comparison might hold, except on aws:PrincipalArn when the guard
// knows the role's name, or knows that it is generated. Then a literal
// value that names another role, or any literal value when the name is
// generated, is not the enforcer's ARN, and only a negated comparison
// holds; a pattern, a policy variable or the role's own name (its path
// unknown) might be, and the comparison might hold.
func (g Guard) unknownHolds(key, base string, vals []string, negate bool) bool {
	if key != "aws:principalarn" || (g.selfName() == "" && !g.SelfRoleNameGenerated) {
		return true
	}
	if negate && g.memberRole != "" && g.placeholder != "" {
		return !slices.ContainsFunc(vals, g.sparesEveryMember(base))
	}
	switch {
	case base == "null":
		// Every call carries aws:PrincipalArn.
		return slices.ContainsFunc(vals, func(v string) bool { return strings.EqualFold(v, "false") })
	case !strings.HasPrefix(base, "string") && !strings.HasPrefix(base, "arn"):
		return false
	}
	// ArnEquals matches wildcards as ArnLike does.
	wildcards := strings.HasSuffix(base, "like") || strings.HasPrefix(base, "arn")
	ignoreCase := strings.HasSuffix(base, "ignorecase")
	mightName := func(v string) bool {
		if ignoreCase {
			// roleOf reads ARNs in IAM's own case.
			v = strings.ToLower(v)
		}
		switch {
		case strings.Contains(v, "${") || g.isSelf(v):
			return true
		case !wildcards || !strings.ContainsAny(v, "*?"):
			return false
		case g.memberRole == "" || g.placeholder == "":
			return true
		}
		// In the member view only the account in the role's ARN is
		// unknown: a pattern may name the role if, with every run of
		// digits read as *, it matches the ARN in the placeholder's
		// account ("arn:aws:iam::5*:role/<member role>" does, one on
		// users or on other roles does not).
		arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", g.memberPartition, g.placeholder, g.memberRole)
		if ignoreCase {
			arn = strings.ToLower(arn)
		}
		match := matcher(base, arn)
		return match == nil || match(digits.ReplaceAllString(v, "*"))
	}
	return negate || slices.ContainsFunc(vals, mightName)
}

// rendered is what ${AccountId} or ${Region} rendered to where key
// compares with it and the guard does not know the call's value any
// better, or "".
func (g Guard) rendered(key, actual string) string {
	switch {
	case (key == "aws:principalaccount" || key == "aws:resourceaccount") && actual == "":
		return g.placeholder
	case key == "aws:requestedregion":
		return g.probe().Region
	}
	return ""
}

// sparesEveryMember reports, for a negated operator base, whether one
// value of it names the member role in every member account: its ARN
// (no path) in the placeholder account and in the witnesses, with what
// ${AccountId} rendered to read as each. A value that names it in some
// accounts only ("arn:aws:iam::1*:role/...") spares those only, and a
// list of such values is not taken to cover them all.
func (g Guard) sparesEveryMember(base string) func(v string) bool {
	return func(v string) bool {
		for _, acct := range append([]string{g.placeholder}, g.witnesses...) {
			arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", g.memberPartition, acct, g.memberRole)
			match := matcher(base, arn)
			if match == nil || !match(strings.ReplaceAll(v, g.placeholder, acct)) {
				return false
			}
		}
		return true
	}
}

// matcher is how operator base (lower case, no IfExists) compares a
// condition value with the call's actual one, or nil for operators that do
// not apply to string keys.
func matcher(base, actual string) func(v string) bool {
	switch base {
	case "stringequals", "stringnotequals":
		return func(v string) bool { return v == actual }
	case "stringequalsignorecase", "stringnotequalsignorecase", "bool":
		return func(v string) bool { return strings.EqualFold(v, actual) }
	case "stringlike", "stringnotlike":
		return func(v string) bool { return globMatch(v, actual) }
	case "arnlike", "arnnotlike", "arnequals", "arnnotequals":
		return func(v string) bool { return arnMatch(v, actual) }
	case "null":
		// The key is present in every call, so Null holds when it asks
		// for "false".
		return func(v string) bool { return strings.EqualFold(v, "false") }
	}
	// Numeric, date and IP operators do not apply to these keys.
	return nil
}

// mayBeAbsent reports whether the enforcer's calls may lack key, or carry
// a value nobody can pin (the function runs outside a VPC, on role
// credentials without MFA, from AWS addresses, on repositories that need
// not carry a given tag). For such a key IAM makes a negated operator, an
// IfExists operator and Null "true" hold: "Deny unless through our VPC
// endpoint" or "Deny without MFA" locks the enforcer out.
func mayBeAbsent(key string) bool {
	switch key {
	case "aws:sourcevpce", "aws:sourcevpc", "aws:vpcsourceip", "aws:sourceip",
		"aws:multifactorauthpresent", "aws:multifactorauthage",
		"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths",
		// The enforcer's calls send no tags, are made directly, by no
		// service, from no EC2 instance, with no source identity.
		"aws:tagkeys", "aws:principalservicename", "aws:principalservicenameslist",
		"aws:calledvia", "aws:calledviafirst", "aws:calledvialast", "aws:sourceidentity",
		"aws:ec2instancesourcevpc", "aws:ec2instancesourceprivateipv4":
		return true
	}
	// Repositories need not carry a given tag, the enforcer's calls send
	// none, and its role carries none the construct sets.
	for _, prefix := range []string{"aws:resourcetag/", "ecr:resourcetag/", "aws:requesttag/", "aws:principaltag/"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

// holds reports whether one condition key cannot be false for the
// enforcer's calls. ForAllValues: over a key the calls lack holds, as
// IAM takes it over no values; otherwise set prefixes (ForAnyValue:,
// ForAllValues:) change nothing for the single-valued keys judged here. A
// key the guard cannot judge holds when:
//   - a Like pattern made of * alone matches whatever value it has
//     (StringLike aws:SourceVpce "*" is no restriction);
//   - an equality compares it with itself (${aws:PrincipalArn} for
//     aws:PrincipalArn), which IAM resolves to the same value;
//   - the key may be absent (mayBeAbsent) and the operator is negated, an
//     IfExists one or Null "true".
//
// Otherwise it may scope the Deny to other callers, and it clears it.
func (g Guard) holds(op, key string, vals []string) bool {
	base := strings.ToLower(op)
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base = base[i+1:]
	}
	ifExists := strings.HasSuffix(base, "ifexists")
	base = strings.TrimSuffix(base, "ifexists")
	like := base == "stringlike" || base == "arnlike" || base == "arnequals"
	negate := strings.Contains(base, "not")
	if !negate && slices.ContainsFunc(vals, func(v string) bool { return strings.EqualFold(v, "${"+key+"}") }) {
		return true
	}
	if strings.HasPrefix(base, "arn") && slices.ContainsFunc(vals, func(v string) bool { return v != "" && strings.Trim(v, "*") == "" }) {
		// Whether IAM reads "*" alone as any ARN or as one of an ARN's
		// six parts is not documented: one reading makes ArnLike hold,
		// the other ArnNotLike, so either may lock the enforcer out.
		return true
	}
	actual, known := g.context(key)
	// A value that is a rendered ${AccountId} or ${Region} is the call's
	// own, whatever the account or region: with one among the values, an
	// equality holds and its negation does not, whatever the others are.
	if own := g.rendered(key, actual); own != "" && slices.Contains(vals, own) {
		actual = own
	}
	if strings.HasPrefix(strings.ToLower(op), "forallvalues:") && mayBeAbsent(key) {
		// IAM takes ForAllValues over no values as true: a key the
		// enforcer's calls lack makes it hold.
		return true
	}
	if (key == "aws:currenttime" || key == "aws:epochtime" || key == "aws:tokenissuetime") && base != "null" {
		// A Deny for a time before or after some date holds for every
		// call in that time: the enforcer is locked out then.
		return true
	}
	if !known {
		switch {
		case like && slices.ContainsFunc(vals, func(v string) bool { return v != "" && strings.Trim(v, "*") == "" }):
			return true
		case !mayBeAbsent(key):
			return false
		case base == "null":
			return slices.ContainsFunc(vals, func(v string) bool { return strings.EqualFold(v, "true") })
		default:
			return negate || ifExists
		}
	}
	if actual == "" {
		return g.unknownHolds(key, base, vals, negate)
	}
	match := matcher(base, actual)
	if match == nil {
		return false
	}
	return slices.ContainsFunc(vals, match) != negate
}

// arnMatch is how the Arn operators compare: IAM splits both ARNs into
// their six colon-separated parts and matches each part alone, so a * does
// not span a colon and a pattern of fewer parts matches nothing.
func arnMatch(pattern, arn string) bool {
	p, a := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(p) != 6 || len(a) != 6 {
		return false
	}
	for i := range p {
		if !globMatch(p[i], a[i]) {
			return false
		}
	}
	return true
}

// wildcardMatch matches name against an IAM action pattern, where * stands
// for any run of characters and ? for one, ignoring case as IAM does for
// action names. It backtracks only to the last *, so it runs in time
// proportional to len(pattern)*len(name) at worst, whatever the pattern.
func wildcardMatch(pattern, name string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(name))
}

// globMatch is wildcardMatch with case: condition values such as
// aws:PrincipalArn compare case-sensitively.
func globMatch(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
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
