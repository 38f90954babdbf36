package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/policies"
)

// mergeBaseline is a rendered baseline in merge mode; its statements are
// written compactly so the expected merged texts below can quote them.
const (
	baseDeny      = `{"Sid":"BaselineDenyDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}`
	basePull      = `{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`
	mergeBaseline = `{"Version":"2012-10-17","Statement":[` + baseDeny + `,` + basePull + `]}`
)

func mustParse(tb testing.TB, text string) *Document {
	tb.Helper()
	doc, err := Parse(text)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", text, err)
	}
	return doc
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name, current, want string
	}{
		{"no policy", "",
			`{"Version":"2012-10-17","Statement":[` + baseDeny + `,` + basePull + `]}`},
		{"empty statement list", `{"Version":"2012-10-17","Statement":[]}`,
			`{"Version":"2012-10-17","Statement":[` + baseDeny + `,` + basePull + `]}`},
		{"keeps a foreign statement verbatim and replaces a same-Sid one",
			"{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"team-a\",\n  \"Statement\" : [ {\n    \"Action\" : \"ecr:PutImage\",\n    \"Sid\" : \"TeamPush\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : { \"AWS\" : \"arn:aws:iam::444455556666:role/ci\" }\n  }, {\n    \"Sid\" : \"BaselinePull\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:*\" ]\n  } ]\n}",
			`{"Version":"2012-10-17","Id":"team-a","Statement":[{"Action":"ecr:PutImage","Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/ci"}},` + baseDeny + `,` + basePull + `]}`},
		{"statement written as an object, older version",
			`{"Version":"2008-10-17","Statement":{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}}`,
			`{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},` + baseDeny + `,` + basePull + `]}`},
		{"statements without a Sid are kept",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},` + baseDeny + `,` + basePull + `]}`},
		{"every statement with a baseline Sid is replaced by one",
			`{"Version":"2012-10-17","Statement":[{"Sid":"BaselineDenyDelete","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},{"Sid":"BaselineDenyDelete","Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}]}`,
			`{"Version":"2012-10-17","Statement":[` + baseDeny + `,` + basePull + `]}`},
		{"HTML characters and escapes stay as written",
			`{"Version":"2012-10-17","Statement":[{"Sid":"Tag","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalTag/team":["<a&b>","\u003cc\u003e"]}}}]}`,
			`{"Version":"2012-10-17","Statement":[{"Sid":"Tag","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalTag/team":["<a&b>","\u003cc\u003e"]}}},` + baseDeny + `,` + basePull + `]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.current, mergeBaseline)
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
			again, err := Merge(got, mergeBaseline)
			if err != nil {
				t.Fatalf("Merge again: %v", err)
			}
			if again != got {
				t.Errorf("Merge is not idempotent:\n first: %s\nsecond: %s", got, again)
			}
			if !Equal(mustParse(t, again), mustParse(t, got)) {
				t.Errorf("merging again changed the policy")
			}
			if !Contains(mustParse(t, got), mustParse(t, mergeBaseline)) {
				t.Errorf("merged policy does not contain the baseline")
			}
		})
	}
}

func TestMergeCompliant(t *testing.T) {
	// The baseline's statements as ECR stores them: re-indented, keys
	// re-ordered, a lone action as a list, the account as its root ARN.
	stored := func(version, pull string) string {
		return "{\n  \"Version\" : \"" + version + "\",\n  \"Statement\" : [ {\n    \"Sid\" : \"TeamPush\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : \"*\",\n    \"Action\" : \"ecr:PutImage\"\n  }, {\n" +
			"    \"Sid\" : \"BaselineDenyDelete\",\n    \"Effect\" : \"Deny\",\n    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:DeleteRepository\" ]\n  }, " + pull + " ]\n}"
	}
	rootPull := `{ "Action" : [ "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage" ], "Effect" : "Allow", "Principal" : { "AWS" : "arn:aws:iam::111122223333:root" }, "Sid" : "BaselinePull" }`
	tests := []struct {
		name, current string
		want          bool
	}{
		{"reformatted baseline beside a foreign statement", stored(Version2012, rootPull), true},
		{"baseline statement changed",
			stored(Version2012, strings.Replace(rootPull, `"ecr:BatchGetImage"`, `"ecr:PutImage"`, 1)), false},
		{"baseline statement missing", stored(Version2012, `{"Sid":"Other","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}`), false},
		{"baseline Sid twice", stored(Version2012, rootPull+`,`+rootPull), false},
		{"other version", stored(Version2008, rootPull), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := mustParse(t, tt.current)
			if got := Contains(cur, mustParse(t, mergeBaseline)); got != tt.want {
				t.Errorf("Contains = %v, want %v", got, tt.want)
			}
			merged, err := Merge(tt.current, mergeBaseline)
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if got := Equal(mustParse(t, merged), cur); got != tt.want {
				t.Errorf("Equal(merged, current) = %v, want %v\nmerged: %s", got, tt.want, merged)
			}
		})
	}
}

func TestMergeSize(t *testing.T) {
	// foreign builds a stored policy whose one foreign statement has a Sid of
	// n runes, each two bytes long: the limit counts characters, not bytes.
	foreign := func(n int) (current, merged string) {
		st := `{"Sid":"` + strings.Repeat("é", n) + `","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}`
		return `{"Version":"2012-10-17","Statement":[` + st + `]}`,
			`{"Version":"2012-10-17","Statement":[` + st + `,` + baseDeny + `,` + basePull + `]}`
	}
	// overhead is what the merged text holds besides the Sid's runes.
	_, empty := foreign(0)
	overhead := utf8.RuneCountInString(empty)

	t.Run("exactly the limit", func(t *testing.T) {
		current, want := foreign(MaxLength - overhead)
		got, err := Merge(current, mergeBaseline)
		if err != nil {
			t.Fatalf("Merge: %v", err)
		}
		if got != want || len(got) <= MaxLength {
			t.Errorf("Merge returned %d runes in %d bytes, want the %d-character policy", utf8.RuneCountInString(got), len(got), MaxLength)
		}
	})
	t.Run("one over the limit", func(t *testing.T) {
		current, _ := foreign(MaxLength - overhead + 1)
		got, err := Merge(current, mergeBaseline)
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Merge = %q, %v; want ErrInvalid", got, err)
		}
		want := fmt.Sprintf("invalid repository policy: merged policy is %d characters and ECR accepts at most %d; it was not truncated (shorten the repository's own statements or the baseline)", MaxLength+1, MaxLength)
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
}

func TestMergeErrors(t *testing.T) {
	tests := []struct {
		name, current, baseline string
		sentinel                error
		want                    string
	}{
		{"current not JSON", `{"Version":"2012-10-17","Statement":[`, mergeBaseline, ErrUnmergeable,
			"stored repository policy cannot be merged: policy is not a JSON object: unexpected EOF"},
		{"current with an unknown element", `{"Version":"2012-10-17","Statement":[],"Extra":1}`, mergeBaseline, ErrUnmergeable,
			`stored repository policy cannot be merged: policy element "Extra": unknown element`},
		{"current statement not an object", `{"Version":"2012-10-17","Statement":["x"]}`, mergeBaseline, ErrUnmergeable,
			`stored repository policy cannot be merged: policy element "Statement": must be an object or an array of objects`},
		{"baseline statement without a Sid", "",
			`{"Version":"2012-10-17","Statement":[` + baseDeny + `,{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`, ErrInvalid,
			"baseline: invalid repository policy: statement 2 has no Sid; merge mode keys baseline statements by Sid"},
		{"baseline invalid", "", `{"Version":"2012-10-17","Statement":[]}`, ErrInvalid,
			"baseline: invalid repository policy: policy needs at least one statement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.current, tt.baseline)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("Merge = %q, %v; want an error wrapping %v", got, err, tt.sentinel)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequireSids(t *testing.T) {
	tests := []struct {
		name, text, want string // want "" means no error
	}{
		{"project baseline", policies.Baseline, ""},
		{"all named", mergeBaseline, ""},
		// Parse sorts the unnamed statement first; the error names its
		// position as written.
		{"second unnamed", `{"Version":"2012-10-17","Statement":[` + baseDeny + `,{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			"invalid repository policy: statement 2 has no Sid; merge mode keys baseline statements by Sid"},
		{"lone object unnamed, empty Sid", `{"Version":"2012-10-17","Statement":{"Sid":"","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}}`,
			"invalid repository policy: statement 1 has no Sid; merge mode keys baseline statements by Sid"},
		{"two unnamed", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"},` + basePull + `,{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			"invalid repository policy: statement 1 has no Sid; merge mode keys baseline statements by Sid\nstatement 3 has no Sid; merge mode keys baseline statements by Sid"},
		{"not JSON", `{"Version"`, "invalid repository policy: policy is not a JSON object: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RequireSids(tt.text)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("RequireSids: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("RequireSids = %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
