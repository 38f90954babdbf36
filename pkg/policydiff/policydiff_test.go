package policydiff

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	deny     = `{"Sid":"BaselineDeny","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}`
	denyWide = `{"Sid":"BaselineDeny","Effect":"Deny","Principal":"*","Action":["ecr:DeleteRepository","ecr:PutImage"]}`
	pull     = `{"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`
	team     = `{"Sid":"TeamPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/ci"},"Action":"ecr:PutImage"}`
	// ECR's own formatting of team: other key order, indentation, a lone
	// action as a list.
	teamAsStored = "{\n  \"Action\" : [ \"ecr:PutImage\" ],\n  \"Effect\" : \"Allow\",\n  \"Principal\" : { \"AWS\" : \"arn:aws:iam::444455556666:role/ci\" },\n  \"Sid\" : \"TeamPush\"\n}"
	noSid        = `{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`
	noSidOther   = `{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:DescribeImages"]}`
	noSidNot     = `{"Effect":"Deny","Principal":"*","NotAction":"ecr:BatchGetImage"}`
)

func doc(version string, stmts ...string) string {
	return `{"Version":"` + version + `","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          Diff
		wantString    string
	}{
		{"no policy before", "", doc("2012-10-17", deny, pull),
			Diff{Added: []string{"BaselineDeny", "BaselinePull"}}, "added BaselineDeny, BaselinePull"},
		{"no policy after", doc("2012-10-17", team), "",
			Diff{Removed: []string{"TeamPush"}}, "removed TeamPush"},
		{"neither has a policy", "", "", Diff{}, "no change"},
		{"formatting and order are no change", doc("2012-10-17", team, deny), doc("2012-10-17", deny, teamAsStored),
			Diff{}, "no change"},
		{"replace drops the team's statement", doc("2012-10-17", team, denyWide), doc("2012-10-17", deny, pull),
			Diff{Added: []string{"BaselinePull"}, Removed: []string{"TeamPush"}, Changed: []string{"BaselineDeny"}},
			"added BaselinePull; removed TeamPush; changed BaselineDeny"},
		{"merge keeps the team's statement", doc("2012-10-17", team), doc("2012-10-17", team, deny, pull),
			Diff{Added: []string{"BaselineDeny", "BaselinePull"}}, "added BaselineDeny, BaselinePull"},
		{"statements without a Sid are named by content", doc("2012-10-17", noSid, noSidNot), doc("2012-10-17", noSidOther, noSidNot),
			Diff{Added: []string{"(no Sid) Allow ecr:batchgetimage +1 #85ac26f9"}, Removed: []string{"(no Sid) Allow ecr:batchgetimage +1 #9781cec7"}},
			"added (no Sid) Allow ecr:batchgetimage +1 #85ac26f9; removed (no Sid) Allow ecr:batchgetimage +1 #9781cec7"},
		{"NotAction in a label", "", doc("2012-10-17", noSidNot),
			Diff{Added: []string{"(no Sid) Deny not ecr:batchgetimage #c1e140d4"}}, "added (no Sid) Deny not ecr:batchgetimage #c1e140d4"},
		{"a repeated Sid is compared as a whole", doc("2012-10-17", deny, denyWide), doc("2012-10-17", deny),
			Diff{Changed: []string{"BaselineDeny"}}, "changed BaselineDeny"},
		{"Version and Id changes with the same statements", doc("2008-10-17", deny),
			`{"Version":"2012-10-17","Id":"team-a","Statement":[` + deny + `]}`,
			Diff{Elements: []string{"Version", "Id"}}, "changed element Version, Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.before, tt.after)
			if err != nil {
				t.Fatalf("Compare: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("diff (-want +got):\n%s", d)
			}
			if got.String() != tt.wantString {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantString)
			}
			if got.Empty() != (tt.wantString == "no change") {
				t.Errorf("Empty() = %v for %q", got.Empty(), tt.wantString)
			}
		})
	}
}

func TestCompareUnreadable(t *testing.T) {
	tests := []struct {
		name, before, after, wantErr string
	}{
		{"before", `{"Statement":`, "", "diff: policy before: policy is not a JSON object: unexpected EOF"},
		{"after", "", `{"Version":"2012-10-17"}`, "diff: policy after: policy has no Statement element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(tt.before, tt.after)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
