package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Vars are the values a baseline template may refer to as ${AccountId},
// ${Region}, ${RepositoryName} and ${RepositoryArn}. IAM policy variables
// such as ${aws:PrincipalTag/team} are left as they are; any other ${...}
// is refused (see lintTemplate).
type Vars struct {
	AccountID      string
	Region         string
	RepositoryName string
	RepositoryARN  string
}

// Render substitutes vars into the string values and keys of a JSON
// template. Substitution happens on the decoded values and the result is
// re-encoded, so whatever a repository name holds it can never change the
// policy's structure. The template itself must pass lintTemplate: no key
// twice in an object, no control character, no infinite number and no
// unknown ${...} variable.
func Render(template string, v Vars) (string, error) {
	var tree any
	if err := decodeStrict([]byte(template), &tree); err != nil {
		return "", fmt.Errorf("%w: baseline is not valid JSON: %w", ErrInvalid, err)
	}
	if problems := lintTemplate([]byte(template)); len(problems) > 0 {
		return "", fmt.Errorf("%w: %w", ErrInvalid, errors.Join(problems...))
	}
	r := strings.NewReplacer(
		"${AccountId}", v.AccountID,
		"${Region}", v.Region,
		"${RepositoryName}", v.RepositoryName,
		"${RepositoryArn}", v.RepositoryARN,
	)
	rendered, err := substitute(tree, r)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep "<", ">" and "&" readable; the policy is not embedded in HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rendered); err != nil {
		return "", fmt.Errorf("render baseline: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// substitute replaces variables in every string and object key. A key
// that becomes equal to a sibling key would silently drop one of them, so
// that is an error.
func substitute(node any, r *strings.Replacer) (any, error) {
	switch x := node.(type) {
	case string:
		return r.Replace(x), nil
	case []any:
		for i := range x {
			v, err := substitute(x[i], r)
			if err != nil {
				return nil, err
			}
			x[i] = v
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		from := make(map[string]string, len(x))
		// In key order, so a collision is reported the same way each time.
		for _, k := range slices.Sorted(maps.Keys(x)) {
			v, err := substitute(x[k], r)
			if err != nil {
				return nil, err
			}
			nk := r.Replace(k)
			if first, dup := from[nk]; dup {
				return nil, fmt.Errorf("keys %q and %q are the same once rendered", first, k)
			}
			out[nk], from[nk] = v, k
		}
		return out, nil
	default:
		return node, nil
	}
}

// worstCase holds the longest values ECR allows for each variable, so a
// template that validates with them validates for every repository.
var worstCase = Vars{
	AccountID:      "123456789012",
	Region:         "ap-southeast-77",
	RepositoryName: strings.Repeat("a", 256),
	RepositoryARN:  "arn:aws-iso-b:ecr:ap-southeast-77:123456789012:repository/" + strings.Repeat("a", 256),
}

// CheckTemplate validates a baseline template as it would be rendered for
// the longest repository name, account and region ECR allows. Synth and the
// Lambda both call it, so a baseline that passes can be applied anywhere.
func CheckTemplate(template string) error {
	rendered, err := Render(template, worstCase)
	if err != nil {
		return err
	}
	if _, err := Validate(rendered); err != nil {
		return fmt.Errorf("baseline rendered for a 256-character repository name: %w", err)
	}
	return nil
}

// placeholderAccount is what ${AccountId} renders to where the account is
// not known (synth): worstCase's account, or, when the template itself
// holds that ID, the first 12-digit ID it does not hold. A 12-digit ID in
// the rendered template that equals it can then only be a rendered
// ${AccountId}, so only those are taken as the account's own, and a grant
// to a literal account ID is judged as one outside the account: the
// literal names another account unless the stack is deployed there.
func placeholderAccount(template string) (string, error) {
	literal, err := unrendered(template)
	if err != nil {
		return "", err
	}
	return absent(literal, worstCase.AccountID, func(n int) string { return fmt.Sprintf("%012d", n) }), nil
}

// placeholderRegion is what ${Region} renders to at load where the
// region is not known (synth): a region the template does not name, so
// that only a rendered ${Region} is the call's own.
func placeholderRegion(template string) (string, error) {
	literal, err := unrendered(template)
	if err != nil {
		return "", err
	}
	return absent(literal, worstCase.Region, func(n int) string { return fmt.Sprintf("ap-southeast-%d", 78+n) }), nil
}

// uniformAccounts are two 12-digit IDs of one repeated digit each that the
// template does not hold. One pattern that matches both has no literal
// digit in its account part, so it matches every account: the member view
// requires an exception for the member role to name it in both, besides
// the placeholder, so that a pattern on its account part
// ("arn:aws:iam::1*:role/...") is not taken to spare every member because
// it matched one made-up account.
func uniformAccounts(template string) ([]string, error) {
	literal, err := unrendered(template)
	if err != nil {
		return nil, err
	}
	var ids []string
	for d := '0'; d <= '9' && len(ids) < 2; d++ {
		if id := strings.Repeat(string(d), 12); !strings.Contains(literal, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		return nil, fmt.Errorf("%w: the template holds every 12-digit ID of one repeated digit", ErrInvalid)
	}
	return ids, nil
}

// unrendered is the template with nothing substituted and every string
// decoded, so a value written with \u escapes is seen too.
func unrendered(template string) (string, error) {
	return Render(template, Vars{AccountID: "${AccountId}", Region: "${Region}",
		RepositoryName: "${RepositoryName}", RepositoryARN: "${RepositoryArn}"})
}

// absent is first, or the first of next(0), next(1), ... that text does
// not hold. text is finite, so this ends.
func absent(text, first string, next func(int) string) string {
	v := first
	for n := 0; strings.Contains(text, v); n++ {
		v = next(n)
	}
	return v
}
