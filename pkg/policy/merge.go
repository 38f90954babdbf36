package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrUnmergeable marks a stored repository policy that Merge cannot read.
// It is a sentinel rather than ErrInvalid because the baseline is fine: the
// caller decides whether to replace such a policy or leave the repository
// alone.
var ErrUnmergeable = errors.New("stored repository policy cannot be merged")

// Merge returns the policy text that applies baseline (rendered and
// validated) to a repository whose stored policy text is current ("" when
// the repository has none).
//
// Baseline statements are keyed by Sid: each one replaces every statement of
// current with the same Sid, or is added. The repository's other statements
// keep their original JSON, only stripped of insignificant whitespace: ECR
// stores the text it is sent, so a team's statements come back as they wrote
// them. Kept statements come first in their original order, then the
// baseline's in baseline order; Equal ignores order, so the order only
// decides how the stored policy reads, and appending keeps the diff against
// the previous text small. The result has the baseline's Version and
// current's Id (the baseline's when the repository has no policy).
//
// Merge is idempotent: Merge(Merge(c, b), b) returns the same text as
// Merge(c, b). When Contains(Parse(current), Parse(baseline)) holds the
// result is Equal to current, so a caller compares the two and skips the
// write.
//
// A baseline that fails Validate or RequireSids, and a merged policy longer
// than MaxLength characters, give an error wrapping ErrInvalid; the merged
// text is never truncated. A current policy that Parse rejects gives an error
// wrapping ErrUnmergeable.
func Merge(current, baseline string) (string, error) {
	if _, err := Validate(baseline); err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	base, baseRaw, baseStmts, err := statementsInOrder(baseline)
	if err != nil {
		return "", fmt.Errorf("baseline: %w: %w", ErrInvalid, err)
	}
	if err := requireSids(baseStmts); err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	replaced := make(map[string]bool, len(baseStmts))
	for _, st := range baseStmts {
		replaced[st.Sid] = true
	}

	out := struct {
		Version   string            `json:"Version"`
		ID        string            `json:"Id,omitempty"`
		Statement []json.RawMessage `json:"Statement"`
	}{Version: base.Version, ID: base.ID}
	if current != "" {
		cur, raw, stmts, err := statementsInOrder(current)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrUnmergeable, err)
		}
		out.ID = cur.ID
		for i, st := range stmts {
			if !replaced[st.Sid] {
				out.Statement = append(out.Statement, raw[i])
			}
		}
	}
	out.Statement = append(out.Statement, baseRaw...)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep "<", ">" and "&" as the repository wrote them; the policy is not
	// embedded in HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return "", fmt.Errorf("encode merged policy: %w", err)
	}
	text := strings.TrimSuffix(buf.String(), "\n")
	if n := utf8.RuneCountInString(text); n > MaxLength {
		return "", fmt.Errorf("%w: merged policy is %d characters and ECR accepts at most %d; it was not truncated (shorten the repository's own statements or the baseline)", ErrInvalid, n, MaxLength)
	}
	return text, nil
}

// RequireSids checks that every statement of a baseline has a Sid, as merge
// mode needs: a baseline statement without one could never be recognised in
// the repository's policy, so each run would add it again. Synth and the
// baseline loader call it when merge mode is on. The error wraps ErrInvalid
// and names each statement by its position in text, counting from 1.
func RequireSids(text string) error {
	_, _, stmts, err := statementsInOrder(text)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return requireSids(stmts)
}

func requireSids(stmts []Statement) error {
	var problems []error
	for i, st := range stmts {
		if st.Sid == "" {
			problems = append(problems, fmt.Errorf("statement %d has no Sid; merge mode keys baseline statements by Sid", i+1))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(problems...))
	}
	return nil
}

// Contains reports whether current already holds baseline as merge mode
// wants it: the same Version and, for each baseline Sid, exactly one
// statement with that Sid, canonically equal to the baseline's. It holds
// exactly when Merge would return a policy Equal to current, so it tells a
// compliant repository in merge mode without building the merged text.
//
// The Version counts because it changes what a statement means: a
// 2008-10-17 policy reads ${aws:username} as literal text.
func Contains(current, baseline *Document) bool {
	if current == nil || baseline == nil || current.Version != baseline.Version {
		return false
	}
	bySid := make(map[string][]Statement, len(current.Statement))
	for _, st := range current.Statement {
		bySid[st.Sid] = append(bySid[st.Sid], st)
	}
	for _, want := range baseline.Statement {
		got := bySid[want.Sid]
		if len(got) != 1 || got[0].key() != want.key() {
			return false
		}
	}
	return true
}

// statementsInOrder parses text and also returns its statements in the order
// they were written, each beside its original JSON. Parse sorts statements,
// which loses both the order Merge keeps and the positions RequireSids names.
func statementsInOrder(text string) (*Document, []json.RawMessage, []Statement, error) {
	doc, err := Parse(text)
	if err != nil {
		return nil, nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return nil, nil, nil, fmt.Errorf("policy is not a JSON object: %w", err)
	}
	statement := top["Statement"]
	// Same rule as parseStatements: a lone statement may be written as an
	// object instead of a one-element array.
	var raw []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(statement), []byte("{")) {
		raw = []json.RawMessage{statement}
	} else if err := json.Unmarshal(statement, &raw); err != nil {
		return nil, nil, nil, fmt.Errorf("policy element %q: %w", "Statement", err)
	}
	stmts, err := parseStatements(statement)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("policy element %q: %w", "Statement", err)
	}
	return doc, raw, stmts, nil
}

// Restore returns current with the statements of written that current
// lacks appended, in written's order: written is a policy a team set, and
// a statement of it missing from what the repository holds now was lost to
// a write that read the repository before the team's landed. A statement
// with a Sid is missing when current has no statement with that Sid (a
// baseline Sid is then replaced by Merge as usual); one without a Sid when
// current has no statement that means the same. A written text that does
// not parse restores nothing (ECR refused it, so nothing was lost); a
// current one that does not parse is an ErrUnmergeable error.
//
// A repository that holds no policy now restores nothing: its policy was
// deleted after the team's write (a write of this function replaces, it
// never deletes), and bringing the old text back would undo that.
func Restore(current, written string) (string, error) {
	_, wRaw, wStmts, err := statementsInOrder(written)
	if err != nil || current == "" {
		return current, nil
	}
	cur, cRaw, cStmts, err := statementsInOrder(current)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnmergeable, err)
	}
	has := func(w Statement) bool {
		for _, c := range cStmts {
			if (w.Sid != "" && c.Sid == w.Sid) || (w.Sid == "" && c.Sid == "" && Equal(&Document{Statement: []Statement{c}}, &Document{Statement: []Statement{w}})) {
				return true
			}
		}
		return false
	}
	out := cRaw
	for i, w := range wStmts {
		if !has(w) {
			out = append(out, wRaw[i])
		}
	}
	if len(out) == len(cRaw) {
		return current, nil
	}
	doc := struct {
		Version   string            `json:"Version,omitempty"`
		ID        string            `json:"Id,omitempty"`
		Statement []json.RawMessage `json:"Statement"`
	}{Version: cur.Version, ID: cur.ID, Statement: out}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// As in Merge: the statements come back as the team wrote them.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
