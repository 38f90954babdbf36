package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/ecr-baseline/ecr-baseline/policies"
)

// seedPolicies are the reference policies of policy_test.go, the project's
// baseline template and shapes Parse accepts that those do not show.
var seedPolicies = []string{
	sentByCLI,
	storedByECR,
	policies.Baseline,
	mergeBaseline,
	`{ "Version": "2008-10-17", "Statement": [{ "Sid": "ECR Repository Policy", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:user/MyUsername" }, "Action": [ "ecr:DescribeImages", "ecr:DescribeRepositories" ] }] }`,
	`{"Version":"2012-10-17","Id":"x","Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:root"]},"NotAction":"ecr:BatchGetImage"}}`,
	`{"Version":"2012-10-17","Statement":[{"Sid":"C","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":[5,"10"]}}}]}`,
}

func FuzzParse(f *testing.F) {
	for _, s := range seedPolicies {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		doc, err := Parse(text)
		if err != nil {
			return
		}
		canonical := doc.Canonical()
		again, err := Parse(string(canonical))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, canonical)
		}
		if !Equal(doc, again) {
			t.Fatalf("canonical form parses to another policy:\n first: %s\nsecond: %s", canonical, again.Canonical())
		}
	})
}

// renderTemplate puts every variable into values of each kind a baseline
// holds: a Sid, a principal, a condition value and a list element.
const renderTemplate = `{"Version":"2012-10-17","Statement":[` +
	`{"Sid":"Pull${RepositoryName}","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::${AccountId}:root","${RepositoryName}"]},"Action":"ecr:BatchGetImage",` +
	`"Condition":{"StringEquals":{"aws:SourceArn":"${RepositoryArn}","aws:RequestedRegion":["${Region}","${RepositoryName}"]}}},` +
	`{"Sid":"Deny","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`

func FuzzRender(f *testing.F) {
	for _, name := range []string{"team-a/web", `x","Effect":"Deny"}]}`, "${RepositoryName}", "<a&b>\u2028", "\\", "\xff"} {
		f.Add(name)
	}
	want, err := shape(renderTemplate)
	if err != nil {
		f.Fatalf("template: %v", err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		text, err := Render(renderTemplate, Vars{
			AccountID: "111122223333", Region: "eu-west-1", RepositoryName: name,
			RepositoryARN: "arn:aws:ecr:eu-west-1:111122223333:repository/" + name,
		})
		if err != nil {
			t.Fatalf("Render(%q): %v", name, err)
		}
		got, err := shape(text)
		if err != nil {
			t.Fatalf("rendered policy is not JSON: %v\n%s", err, text)
		}
		if got != want {
			t.Fatalf("repository name %q changed the policy's structure:\n got: %s\nwant: %s", name, got, want)
		}
		doc, err := Parse(text)
		if err != nil {
			t.Fatalf("rendered policy does not parse: %v\n%s", err, text)
		}
		if len(doc.Statement) != 2 {
			t.Fatalf("rendered policy has %d statements, want 2:\n%s", len(doc.Statement), text)
		}
	})
}

// shape describes a JSON text's structure without its string values: every
// key path with the kind of value found there, and each array's length.
func shape(text string) (string, error) {
	var tree any
	if err := decodeStrict([]byte(text), &tree); err != nil {
		return "", err
	}
	var paths []string
	var walk func(path string, node any)
	walk = func(path string, node any) {
		switch x := node.(type) {
		case map[string]any:
			paths = append(paths, path+" object")
			for k, v := range x {
				walk(path+"/"+k, v)
			}
		case []any:
			paths = append(paths, fmt.Sprintf("%s array of %d", path, len(x)))
			for i, v := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), v)
			}
		default:
			paths = append(paths, fmt.Sprintf("%s %T", path, x))
		}
	}
	walk("", tree)
	sort.Strings(paths)
	b, err := json.Marshal(paths)
	return string(b), err
}

func FuzzMerge(f *testing.F) {
	rendered, err := Render(policies.Baseline, Vars{AccountID: "111122223333", Region: "eu-west-1", RepositoryName: "team-a/web"})
	if err != nil {
		f.Fatalf("Render: %v", err)
	}
	for _, base := range []string{rendered, mergeBaseline} {
		f.Add("", base)
		for _, cur := range seedPolicies {
			f.Add(cur, base)
		}
	}
	f.Fuzz(func(t *testing.T, current, baseline string) {
		merged, err := Merge(current, baseline)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnmergeable) {
				t.Fatalf("Merge error %v wraps neither ErrInvalid nor ErrUnmergeable", err)
			}
			return
		}
		doc, err := Parse(merged)
		if err != nil {
			t.Fatalf("merged policy does not parse: %v\n%s", err, merged)
		}
		base := mustParse(t, baseline)
		if !Contains(doc, base) {
			t.Fatalf("merged policy lacks the baseline:\n%s", merged)
		}
		again, err := Merge(merged, baseline)
		if err != nil {
			t.Fatalf("merging again: %v", err)
		}
		if again != merged || !Equal(mustParse(t, again), doc) {
			t.Fatalf("merging again changed the policy:\n first: %s\nsecond: %s", merged, again)
		}
		if current == "" {
			return
		}
		cur := mustParse(t, current)
		if Contains(cur, base) != Equal(doc, cur) {
			t.Fatalf("Contains = %v but Equal(merged, current) = %v\ncurrent: %s\n merged: %s", Contains(cur, base), Equal(doc, cur), current, merged)
		}
	})
}

// FuzzGuard checks the guardrails against each other: whatever the text,
// Check does not panic; a template it accepts renders for any repository
// of the account into a valid policy that grants nothing outside it and
// locks nobody out; and a template accepted where nothing is known (no
// account, no role) is accepted where they are, unless it is invalid
// there, since knowing more only clears statements.
func FuzzGuard(f *testing.F) {
	for _, s := range append(seedPolicies, renderTemplate,
		`{"Version":"2012-10-17","Statement":[{"Sid":"A","Sid":"B","Effect":"Allow","Principal":{"AWS":[]},"Action":"ecr:*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Sid":"${Foo}\u0001","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringLike":{"aws:PrincipalArn":"*"},"NumericLessThan":{"k":1e999}}}]}`,
	) {
		f.Add(s)
	}
	guard := Guard{AccountID: "111122223333", Region: "eu-west-1", SelfRoleARN: "arn:aws:iam::111122223333:role/enforcer"}
	f.Fuzz(func(t *testing.T, template string) {
		err := guard.Check(template)
		if (errors.Is(err, ErrExposes) || errors.Is(err, ErrLockOut)) && (Guard{}).Check(template) == nil {
			t.Fatalf("accepted with nothing known, refused for the account: %v\n%s", err, template)
		}
		if err != nil {
			return
		}
		text, err := Render(template, Vars{AccountID: "111122223333", Region: "eu-west-1", RepositoryName: "team-a/web",
			RepositoryARN: "arn:aws:ecr:eu-west-1:111122223333:repository/team-a/web"})
		if err != nil {
			t.Fatalf("accepted template does not render: %v", err)
		}
		doc, err := Validate(text)
		if err != nil {
			t.Fatalf("accepted template renders an invalid policy: %v\n%s", err, text)
		}
		if reasons := append(guard.exposes(doc.Statement), guard.LocksOut(doc)...); len(reasons) > 0 {
			t.Fatalf("accepted template renders a harmful policy: %v\n%s", reasons, text)
		}
	})
}
