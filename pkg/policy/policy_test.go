package policy

import (
	"errors"
	"strings"
	"testing"
)

// What ECR returned for the API reference's SetRepositoryPolicy example:
// the same policy, re-indented and re-ordered.
const (
	sentByCLI   = `{"Version":"2012-10-17","Statement":[{"Sid":"AllowPull","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Principal":"*"}]}` + "\n"
	storedByECR = "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"AllowPull\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n  } ]\n}"
)

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"ECR reformatting", sentByCLI, storedByECR, true},
		{"statement object vs array",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"]}]}`, true},
		{"action order, duplicates and case",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:batchgetimage"]}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, true},
		{"statement order",
			`{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},{"Sid":"B","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"},{"Sid":"A","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`, true},
		{"principal string vs list, account id vs root ARN",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root"]},"Action":"ecr:BatchGetImage"}]}`, true},
		{"condition scalar types and key case",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"AWS:SecureTransport":["false"]}}}]}`, true},
		{"different action",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`, false},
		{"different version",
			`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`, false},
		{"wildcard principal is not AWS wildcard",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}]}`, false},
		{"extra statement",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.a)
			if err != nil {
				t.Fatalf("Parse(a): %v", err)
			}
			b, err := Parse(tt.b)
			if err != nil {
				t.Fatalf("Parse(b): %v", err)
			}
			if got := Equal(a, b); got != tt.want {
				t.Errorf("Equal = %v, want %v\n a: %s\n b: %s", got, tt.want, a.Canonical(), b.Canonical())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"not JSON", `not json`, "policy is not a JSON object"},
		{"truncated", `{"Version":"2012-10-17","Statement":[`, "policy is not a JSON object: unexpected EOF"},
		{"array", `[]`, "policy is not a JSON object"},
		{"trailing data", `{"Statement":[]} {}`, "trailing data"},
		{"no statement", `{"Version":"2012-10-17"}`, "policy has no Statement element"},
		{"unknown element", `{"Version":"2012-10-17","Statement":[],"Extra":1}`, `policy element "Extra": unknown element`},
		{"statement string", `{"Statement":"x"}`, `policy element "Statement": must be an object or an array of objects`},
		{"unknown statement element", `{"Statement":[{"Effect":"Allow","Actions":"ecr:*"}]}`, `statement 1: unknown element "Actions"`},
		{"action number", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":5}]}`, "Action: must be a string or a list of strings"},
		{"principal string not wildcard", `{"Statement":[{"Effect":"Allow","Principal":"me","Action":"ecr:*"}]}`, `Principal: must be "*" or a map, got "me"`},
		{"principal list", `{"Statement":[{"Effect":"Allow","Principal":["*"],"Action":"ecr:*"}]}`, `Principal: must be "*" or a map`},
		{"condition key twice in two cases", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false","AWS:SecureTransport":"true"}}}]}`,
			`Bool: key "`},
		{"condition nested object", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"k":{"x":1}}}}]}`, "StringEquals k: values must be strings, numbers or booleans"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // substrings of the error; none means valid
	}{
		{"API reference example", sentByCLI, nil},
		{"user guide example, 2008 version", `{ "Version": "2008-10-17", "Statement": [{ "Sid": "ECR Repository Policy", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:user/MyUsername" }, "Action": [ "ecr:DescribeImages", "ecr:DescribeRepositories" ] }] }`, nil},
		{"user guide IAM example with Resource",
			`{ "Version": "2012-10-17", "Statement": [{ "Sid": "ECR Repository Policy", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:user/MyUsername" }, "Action": [ "ecr:DescribeImages", "ecr:DescribeRepositories" ], "Resource": [ "arn:aws:ecr:region:123456789012:repository/MyRepository" ] }] }`,
			[]string{`statement "ECR Repository Policy": Resource is not allowed in a repository policy`}},
		{"no statements", `{"Version":"2012-10-17","Statement":[]}`, []string{"policy needs at least one statement"}},
		{"bad version", `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, []string{`Version must be "2012-10-17" or "2008-10-17", got "2020-01-01"`}},
		{"every statement problem at once",
			`{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Permit","Action":"s3:GetObject"},{"Sid":"S","Effect":"Allow","Principal":"*","Action":"ecr:*","NotAction":"ecr:PutImage"}]}`,
			[]string{
				`statement "S": Effect must be Allow or Deny, got "Permit"`,
				`statement "S": needs exactly one of Principal or NotPrincipal`,
				`statement "S": action "s3:getobject" is not an ecr: action`,
				`statement "S": Sid is used twice`,
				`statement "S": needs exactly one of Action or NotAction`,
			}},
		{"too long", `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("x", MaxLength) + `","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`,
			[]string{"characters, ECR accepts at most 10240"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Validate(tt.text)
			if len(tt.want) == 0 {
				if err != nil || doc == nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	tmpl := `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":"ecr:BatchGetImage",` +
		`"Condition":{"StringEquals":{"aws:PrincipalTag/repo":"${RepositoryName}","aws:SourceArn":"${RepositoryArn}","aws:RequestedRegion":"${Region}","aws:username":"${aws:username}"}}}]}`
	tests := []struct {
		name string
		vars Vars
	}{
		{"plain", Vars{"111122223333", "eu-west-1", "team-a/web", "arn:aws:ecr:eu-west-1:111122223333:repository/team-a/web"}},
		{"quotes and braces", Vars{"111122223333", "eu-west-1", `x","Effect":"Deny"}]}`, `"}`}},
		{"html characters and unicode", Vars{"111122223333", "eu-west-1", "<a&b>\u2028", "\\"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render(tmpl, tt.vars)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			doc, err := Validate(out)
			if err != nil {
				t.Fatalf("rendered policy invalid: %v\n%s", err, out)
			}
			if len(doc.Statement) != 1 {
				t.Fatalf("statements = %d, want 1: %s", len(doc.Statement), out)
			}
			cond := doc.Statement[0].Condition["StringEquals"]
			checks := map[string]string{
				"aws:principaltag/repo": tt.vars.RepositoryName,
				"aws:sourcearn":         tt.vars.RepositoryARN,
				"aws:requestedregion":   tt.vars.Region,
				"aws:username":          "${aws:username}",
			}
			for k, want := range checks {
				if got := cond[k]; len(got) != 1 || got[0] != want {
					t.Errorf("condition %s = %q, want %q", k, got, want)
				}
			}
			if got := doc.Statement[0].Principal.IDs["AWS"]; len(got) != 1 || got[0] != tt.vars.AccountID {
				t.Errorf("principal = %q, want account %s", got, tt.vars.AccountID)
			}
		})
	}
}

func TestCheckTemplate(t *testing.T) {
	stmt := `{"Sid":"S%d","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:ResourceTag/name":"${RepositoryName}"}}}`
	build := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = strings.Replace(stmt, "%d", strings.Repeat("1", i+1), 1)
		}
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(parts, ",") + `]}`
	}
	// 30 statements each carrying a 256-character name exceed 10240 once
	// rendered, though the template itself is short.
	small, large := build(2), build(30)
	if len(large) > MaxLength {
		t.Fatalf("test template already %d characters", len(large))
	}
	if err := CheckTemplate(small); err != nil {
		t.Errorf("CheckTemplate(small): %v", err)
	}
	err := CheckTemplate(large)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "256-character repository name") {
		t.Errorf("CheckTemplate(large) = %v, want a size error naming the worst case", err)
	}
	collide := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:ResourceTag/${RepositoryName}":"a","aws:ResourceTag/team":"b"}}}]}`
	if _, err := Render(collide, Vars{RepositoryName: "team"}); !errors.Is(err, ErrInvalid) || err.Error() != `invalid repository policy: keys "aws:ResourceTag/${RepositoryName}" and "aws:ResourceTag/team" are the same once rendered` {
		t.Errorf("Render with colliding keys = %v, want a collision error", err)
	}
	if err := CheckTemplate(`{"Version":`); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckTemplate(truncated) = %v, want ErrInvalid", err)
	}
}
