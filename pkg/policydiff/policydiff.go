// Package policydiff tells which statements differ between two repository
// policies, for the places a decision is shown: the enforced log line,
// dry-run results, restore results and the CLI table.
package policydiff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Diff names the statements added, removed and changed from one policy to
// another. A statement with a Sid is named by it. One without is named by
// a label of its content (effect, first action, a hash of the whole
// statement): its content is all that identifies it, so an edited Sid-less
// statement shows as one removed and one added, never as changed.
type Diff struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Elements names the top-level elements besides Statement that differ
	// ("Version", "Id"): a Version change alters how every statement reads
	// (2008-10-17 leaves ${aws:username} as literal text), so a policy can
	// differ with no statement changed.
	Elements []string `json:"elements,omitempty"`
}

// Compare diffs two policy texts; "" stands for no policy, whose
// statements are none. Either text failing policy.Parse is an error.
func Compare(before, after string) (Diff, error) {
	b, err := parse(before)
	if err != nil {
		return Diff{}, fmt.Errorf("diff: policy before: %w", err)
	}
	a, err := parse(after)
	if err != nil {
		return Diff{}, fmt.Errorf("diff: policy after: %w", err)
	}
	return Documents(b, a), nil
}

func parse(text string) (*policy.Document, error) {
	if text == "" {
		return nil, nil
	}
	return policy.Parse(text)
}

// Documents diffs two parsed policies; nil stands for no policy. Statements
// are compared canonically, as policy.Equal compares documents, so
// formatting, element order and list shape are no change.
func Documents(before, after *policy.Document) Diff {
	var d Diff
	if before != nil && after != nil {
		if before.Version != after.Version {
			d.Elements = append(d.Elements, "Version")
		}
		if before.ID != after.ID {
			d.Elements = append(d.Elements, "Id")
		}
	}
	old, cur := group(before), group(after)
	for name, stmts := range cur {
		prev, ok := old[name]
		switch {
		case !ok:
			d.Added = append(d.Added, name)
		case !sameStatements(prev, stmts):
			d.Changed = append(d.Changed, name)
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			d.Removed = append(d.Removed, name)
		}
	}
	sort.Strings(d.Added)
	sort.Strings(d.Removed)
	sort.Strings(d.Changed)
	return d
}

// Empty reports whether the two policies mean the same.
func (d Diff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0 && len(d.Elements) == 0
}

// String is the one-line summary tables and log lines show, such as
// "added BaselinePull; removed TeamPush; changed BaselineDeny".
func (d Diff) String() string {
	if d.Empty() {
		return "no change"
	}
	var parts []string
	for _, p := range []struct {
		verb  string
		names []string
	}{{"added", d.Added}, {"removed", d.Removed}, {"changed", d.Changed}, {"changed element", d.Elements}} {
		if len(p.names) > 0 {
			parts = append(parts, p.verb+" "+strings.Join(p.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// group keys a policy's canonical statements by name. A policy may repeat
// a Sid (Parse allows it, ECR is reported to store it), so a name holds a
// list, compared as a whole.
func group(doc *policy.Document) map[string][]string {
	out := map[string][]string{}
	if doc == nil {
		return out
	}
	for _, st := range doc.Statement {
		canon := canonical(st)
		name := st.Sid
		if name == "" {
			name = label(st, canon)
		}
		out[name] = append(out[name], canon)
	}
	return out
}

// sameStatements compares two lists that Parse produced in canonical order.
func sameStatements(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func canonical(st policy.Statement) string {
	// A Statement holds only strings, lists and maps, so Marshal cannot
	// fail; maps come out with sorted keys.
	b, _ := json.Marshal(st)
	return string(b)
}

// label names a statement without a Sid. The hash, of the canonical
// statement, keeps two statements that share an effect and first action
// apart and stays the same however ECR reformats the text, so one
// statement has one name in every log line and table; the rest makes the
// name readable.
func label(st policy.Statement, canon string) string {
	actions, not := st.Action, ""
	if len(actions) == 0 {
		actions, not = st.NotAction, "not "
	}
	first := "no action"
	if len(actions) > 0 {
		first = not + actions[0]
		if len(actions) > 1 {
			first += fmt.Sprintf(" +%d", len(actions)-1)
		}
	}
	sum := sha256.Sum256([]byte(canon))
	return fmt.Sprintf("(no Sid) %s %s #%s", st.Effect, first, hex.EncodeToString(sum[:4]))
}
