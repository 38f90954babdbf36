package policy

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// ErrExposes marks a baseline that would grant access to anyone outside the
// account the operator has not listed. The enforcer writes the baseline to
// every repository, so one such statement opens the whole registry.
var ErrExposes = errors.New("baseline would grant access outside this account")

// Guard is what the baseline guardrails know about the enforcer and what
// the operator allows. The zero value is the strictest: no principal
// outside the account may be granted anything, and any principal of the
// account might be the enforcer.
type Guard struct {
	// AccountID is the account the enforcer runs in and writes to; when
	// empty it is taken from SelfRoleARN. A principal in it is inside.
	AccountID string
	// Region is where the enforcer runs; with AccountID it is what the
	// baseline is rendered with at load, so a problem every repository of
	// this account would have is found before any repository is read.
	Region string
	// Regions are the other regions the enforcer writes in (an
	// organisation's member regions): the lock-out guard judges the
	// baseline at load in each.
	Regions []string
	// SelfRoleARN is the enforcer's own role: its IAM role ARN (the
	// function's SELF_ROLE_ARN), or the ARN of one of its sessions
	// (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION, as STS names the
	// local CLI's caller), which names the role but not its path. A Deny
	// naming another role cannot lock the enforcer out; when it is empty,
	// every principal of the account is taken to be the enforcer, unless
	// SelfRoleNameGenerated.
	SelfRoleARN string
	// SelfRoleNameGenerated says, where SelfRoleARN is empty, that the
	// enforcer is a role yet to be created, whose name CloudFormation
	// generates with a random suffix (synth: the construct gives its role
	// no RoleName). No literal role ARN can name it and no user is it, so
	// a Deny on another role or on a user is let through; a pattern on
	// aws:PrincipalArn might match it, and an account principal covers
	// it. The function judges the baseline again with its real role each
	// time it loads it, before any repository is touched.
	SelfRoleNameGenerated bool
	// CallerARN is who else writes with this baseline, besides the
	// enforcer: the local CLI's caller, a role session as STS names it
	// (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION). A Deny must lock
	// out neither: each statement is judged for SelfRoleARN and for it.
	CallerARN string
	// AllowedPrincipals are account IDs (12 digits) an Allow may name
	// besides this account, and organization IDs (o-...) an Allow to "*"
	// may be scoped to with a StringEquals aws:PrincipalOrgID condition.
	AllowedPrincipals []string
	// AllowPublic acknowledges a baseline that grants to "*" without an
	// organization condition, making every repository public.
	AllowPublic bool
	// Force accepts a baseline that would lock the enforcer out; it is
	// the same setting the enforcer passes to SetRepositoryPolicy.
	Force bool

	// memberRole and memberPartition, set by AsMember, are the role the
	// enforcer writes as in accounts not known here.
	memberRole, memberPartition string
	// witnesses, set at load in the member view, are two more made-up
	// member accounts (uniformAccounts) an exception for the member role
	// must name it in too.
	witnesses []string
	// placeholder, set by Check where the account is unknown, is what
	// ${AccountId} rendered to: the one account ID known to be the
	// account's own.
	placeholder string
}

// AsMember is g as every member account of an organisation sees the
// baseline: the enforcer there is the role roleName, which the member
// stack creates without a path (arn:<partition>:iam::<member>:role/<name>),
// in an account not known here. So a grant to any account ID written
// literally is outside (the hub's too), a Deny on any literal account may
// be on a member, and a Deny on roleName in any account locks the member
// role out.
func (g Guard) AsMember(partition, roleName string) Guard {
	m := g
	m.AccountID, m.SelfRoleARN, m.CallerARN, m.SelfRoleNameGenerated = "", "", "", false
	m.memberRole, m.memberPartition = roleName, partition
	return m
}

// CheckAsMember runs Check on template as AsMember sees it: the hub runs
// it beside its own Check in organisation mode, at load and at synth, so a
// baseline that would fail in every member fails with nothing queued.
func (g Guard) CheckAsMember(template, partition, roleName string) error {
	if err := g.AsMember(partition, roleName).Check(template); err != nil {
		return fmt.Errorf("as a member account sees it: %w", err)
	}
	return nil
}

var (
	accountID      = regexp.MustCompile(`^[0-9]{12}$`)
	organizationID = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// arnAccount finds the account of an IAM or STS ARN.
	arnAccount = regexp.MustCompile(`^arn:[a-z-]+:(?:iam|sts)::([0-9]{12}):`)
)

// Check runs every baseline check on template: CheckTemplate (valid for the
// longest repository name), then, on the template rendered for this
// account and region, the exposure guard and, unless Force, the lock-out
// guard. The Lambda runs it each time it loads the baseline and synth may
// run it on the template it deploys, so a harmful baseline fails the run
// before any repository is touched. Errors wrap ErrInvalid, ErrExposes or
// ErrLockOut.
func (g Guard) Check(template string) error {
	if err := g.validate(); err != nil {
		return err
	}
	if err := CheckTemplate(template); err != nil {
		return err
	}
	// Exposure is judged for the account ${AccountId} renders to; the
	// lock-out guard keeps an unknown account unknown, so that a literal
	// account ID in a Deny may still be this one.
	exposure := g
	if g.account() == "" {
		acct, err := placeholderAccount(template)
		if err != nil {
			return err
		}
		exposure.AccountID = acct
	}
	rendered, err := Render(template, exposure.probe())
	if err != nil {
		return fmt.Errorf("baseline rendered for this account: %w", err)
	}
	if _, err := Validate(rendered); err != nil {
		return fmt.Errorf("baseline rendered for this account: %w", err)
	}
	// Parse sorts statements; in written order, one without a Sid can be
	// named by its position.
	_, _, stmts, err := statementsInOrder(rendered)
	if err != nil {
		return fmt.Errorf("baseline rendered for this account: %w", err)
	}
	errs := []error{joinReasons(ErrExposes, exposure.exposes(stmts))}
	if !g.Force {
		errs = append(errs, g.lockOutAtLoad(template, exposure.account()))
	}
	return errors.Join(errs...)
}

// lockOutAtLoad runs the lock-out guard on template rendered for account
// (the placeholder where g does not know it) in every region the enforcer
// writes in (Region and Regions; where Region is not known, a region the
// template does not name), so that each repository, judged again in its
// own region and registry before it is read (Enforcer), is never refused
// for what the load let through. The member view also judges an
// exception for its role in two more made-up accounts (witnesses). The
// first refusal is reported.
func (g Guard) lockOutAtLoad(template, account string) error {
	regions := []string{g.Region}
	if g.Region == "" {
		region, err := placeholderRegion(template)
		if err != nil {
			return err
		}
		regions[0] = region
	}
	// Only a Condition on the region can judge one region apart from
	// another; without one, the function's region stands for them all.
	if literal, err := unrendered(template); err == nil && strings.Contains(strings.ToLower(literal), "aws:requestedregion") {
		for _, r := range g.Regions {
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	lock := g
	if g.account() == "" {
		lock.placeholder = account
	}
	if g.memberRole != "" {
		more, err := uniformAccounts(template)
		if err != nil {
			return err
		}
		lock.witnesses = more
	}
	for _, region := range regions {
		lock.Region = region
		rendered, err := Render(template, Guard{AccountID: account, Region: region}.probe())
		if err != nil {
			return fmt.Errorf("baseline rendered for this account: %w", err)
		}
		_, _, stmts, err := statementsInOrder(rendered)
		if err != nil {
			return fmt.Errorf("baseline rendered for this account: %w", err)
		}
		if reasons := lock.locksOut(stmts, true); len(reasons) > 0 {
			return joinReasons(ErrLockOut, reasons)
		}
	}
	return nil
}

// validate refuses guard options that would silently allow nothing or
// something else than meant.
func (g Guard) validate() error {
	var problems []error
	for _, p := range g.AllowedPrincipals {
		if err := CheckAllowedPrincipal(p); err != nil {
			problems = append(problems, err)
		}
	}
	if g.AccountID != "" && !accountID.MatchString(g.AccountID) {
		// Synth passes "" for an account CDK has not resolved, not its token.
		problems = append(problems, fmt.Errorf("account %q is not a 12-digit account ID", g.AccountID))
	}
	if g.SelfRoleARN != "" && roleOf(g.SelfRoleARN) == "" {
		problems = append(problems, fmt.Errorf("self role %q is not an IAM role ARN", g.SelfRoleARN))
	}
	if g.CallerARN != "" && roleOf(g.CallerARN) == "" {
		problems = append(problems, fmt.Errorf("caller %q is not a role or role session ARN", g.CallerARN))
	}
	if len(problems) > 0 {
		return fmt.Errorf("baseline guard: %w", errors.Join(problems...))
	}
	return nil
}

// CheckAllowedPrincipal refuses an entry of Guard.AllowedPrincipals that is
// neither an account ID nor an organization ID: anything else would allow
// nothing, silently. The settings table uses it too, so a bad entry fails
// at start and at synth with the same words.
func CheckAllowedPrincipal(p string) error {
	if !accountID.MatchString(p) && !organizationID.MatchString(p) {
		return fmt.Errorf("allowed principal %q is neither a 12-digit account ID nor an organization ID (o-...)", p)
	}
	return nil
}

// probe is the repository the baseline is rendered for at load: the
// longest name, in this account and region when they are known.
func (g Guard) probe() Vars {
	v := worstCase
	if a := g.account(); a != "" {
		v.AccountID = a
	}
	if g.Region != "" {
		v.Region = g.Region
	}
	v.RepositoryARN = fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", v.Region, v.AccountID, v.RepositoryName)
	return v
}

// account is AccountID, or the account of SelfRoleARN.
func (g Guard) account() string {
	if g.AccountID != "" {
		return g.AccountID
	}
	if m := arnAccount.FindStringSubmatch(g.SelfRoleARN); m != nil {
		return m[1]
	}
	return ""
}

// exposes returns one reason for each Allow statement that grants access
// outside the account beyond what g allows, naming each statement by its
// Sid or its position in stmts.
func (g Guard) exposes(stmts []Statement) []string {
	var reasons []string
	for i, st := range stmts {
		if reason := g.exposure(st); reason != "" {
			reasons = append(reasons, statementName(st, i)+": "+reason)
		}
	}
	return reasons
}

func (g Guard) exposure(s Statement) string {
	if !strings.EqualFold(s.Effect, "Allow") || g.scopedToAllowed(s.Condition) {
		return ""
	}
	public := "; scope it with a StringEquals aws:PrincipalOrgID condition on an organization in allowedPrincipals, or set allowPublic"
	if s.NotPrincipal != nil {
		if g.AllowPublic {
			return ""
		}
		return fmt.Sprintf("Allow to everyone but %s would make every repository public%s", principalText(s.NotPrincipal), public)
	}
	if s.Principal == nil {
		return ""
	}
	if s.Principal.Wildcard || slices.Contains(s.Principal.IDs["AWS"], "*") {
		if g.AllowPublic {
			return ""
		}
		return fmt.Sprintf("Allow to %s would make every repository public%s", principalText(s.Principal), public)
	}
	var outside []string
	for _, typ := range slices.Sorted(maps.Keys(s.Principal.IDs)) {
		if typ == "Service" {
			if reason := g.serviceExposure(s); reason != "" {
				return reason
			}
			continue
		}
		for _, id := range s.Principal.IDs[typ] {
			if typ != "AWS" || !g.inside(id) {
				outside = append(outside, id)
			}
		}
	}
	if len(outside) == 0 {
		return ""
	}
	return fmt.Sprintf("Allow to %s, outside this account; add the account IDs to allowedPrincipals to grant them", strings.Join(outside, ", "))
}

// serviceExposure refuses an Allow to a service principal that is not
// limited to this account's (or an allowed account's) resources: a service
// acts for every customer, so without aws:SourceAccount or aws:SourceArn
// any account's resources could use the grant (the confused deputy AWS's
// ECR documentation warns of).
func (g Guard) serviceExposure(s Statement) string {
	services := s.Principal.IDs["Service"]
	if slices.Contains(services, "*") {
		return `Allow to every service ("Service": "*") would let any service act for any account on every repository; name the service and scope it with aws:SourceAccount`
	}
	for op, keys := range s.Condition {
		if strings.Contains(strings.ToLower(op), "not") || strings.HasSuffix(strings.ToLower(op), "ifexists") {
			continue
		}
		for key, vals := range keys {
			if key != "aws:sourceaccount" && key != "aws:sourcearn" {
				continue
			}
			outside := func(v string) bool {
				if parts := strings.SplitN(v, ":", 6); key == "aws:sourcearn" && len(parts) == 6 && parts[0] == "arn" {
					v = parts[4] // arn:partition:service:region:account:resource
				}
				return !g.inside(v)
			}
			if len(vals) > 0 && !slices.ContainsFunc(vals, outside) {
				return ""
			}
		}
	}
	return fmt.Sprintf("Allow to service %s without an aws:SourceAccount or aws:SourceArn condition on this account would let it act for any account; add StringEquals aws:SourceAccount ${AccountId}", strings.Join(services, ", "))
}

// inside reports whether an AWS principal belongs to this account or to an
// account the operator allows.
func (g Guard) inside(id string) bool {
	acct := id
	if m := arnAccount.FindStringSubmatch(id); m != nil {
		acct = m[1]
	}
	if !accountID.MatchString(acct) {
		return false
	}
	return acct == g.account() || slices.Contains(g.AllowedPrincipals, acct)
}

// scopedToAllowed reports whether a Condition limits an Allow to
// principals of allowed organizations or accounts: StringEquals (any case)
// on aws:PrincipalOrgID or aws:PrincipalAccount, every value allowed. An
// IfExists form is not enough: principals outside any organization carry no
// aws:PrincipalOrgID and would pass it.
func (g Guard) scopedToAllowed(cond map[string]map[string][]string) bool {
	for op, keys := range cond {
		if !strings.EqualFold(op, "StringEquals") && !strings.EqualFold(op, "StringEqualsIgnoreCase") {
			continue
		}
		for key, vals := range keys {
			if key != "aws:principalorgid" && key != "aws:principalaccount" {
				continue
			}
			ok := len(vals) > 0
			for _, v := range vals {
				if key == "aws:principalorgid" {
					ok = ok && organizationID.MatchString(v) && slices.Contains(g.AllowedPrincipals, v)
				} else {
					ok = ok && accountID.MatchString(v) && (v == g.account() || slices.Contains(g.AllowedPrincipals, v))
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// statementName names a statement in a message: its Sid, or its position
// counting from 1, or, when i is negative (a parsed Document keeps no
// order), only the fact that it has no Sid.
func statementName(s Statement, i int) string {
	switch {
	case s.Sid != "":
		return fmt.Sprintf("statement %q", s.Sid)
	case i < 0:
		return "a statement without a Sid"
	}
	return fmt.Sprintf("statement %d", i+1)
}

// joinReasons returns nil without reasons, or sentinel followed by each.
func joinReasons(sentinel error, reasons []string) error {
	if len(reasons) == 0 {
		return nil
	}
	errs := make([]error, len(reasons))
	for i, r := range reasons {
		errs[i] = errors.New(r)
	}
	return fmt.Errorf("%w: %w", sentinel, errors.Join(errs...))
}
