package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MaxLength is the longest policy text SetRepositoryPolicy accepts, in characters.
const MaxLength = 10240

// Versions ECR accepts in a repository policy.
const (
	Version2008 = "2008-10-17"
	Version2012 = "2012-10-17"
)

// Document is a parsed repository policy. Every list is held sorted and
// de-duplicated, so two documents that mean the same marshal to the same bytes.
type Document struct {
	Version   string      `json:"Version,omitempty"`
	ID        string      `json:"Id,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement in canonical form.
type Statement struct {
	Sid          string                         `json:"Sid,omitempty"`
	Effect       string                         `json:"Effect"`
	Principal    *Principal                     `json:"Principal,omitempty"`
	NotPrincipal *Principal                     `json:"NotPrincipal,omitempty"`
	Action       []string                       `json:"Action,omitempty"`
	NotAction    []string                       `json:"NotAction,omitempty"`
	Resource     []string                       `json:"Resource,omitempty"`
	NotResource  []string                       `json:"NotResource,omitempty"`
	Condition    map[string]map[string][]string `json:"Condition,omitempty"`
}

// Principal is either the wildcard "*" or a map from principal type
// ("AWS", "Service", "Federated", ...) to identifiers.
type Principal struct {
	Wildcard bool
	IDs      map[string][]string
}

// MarshalJSON writes "*" for the wildcard and the map otherwise.
func (p Principal) MarshalJSON() ([]byte, error) {
	if p.Wildcard {
		return []byte(`"*"`), nil
	}
	return json.Marshal(p.IDs)
}

var knownStatementKeys = map[string]bool{
	"Sid": true, "Effect": true, "Principal": true, "NotPrincipal": true,
	"Action": true, "NotAction": true, "Resource": true, "NotResource": true, "Condition": true,
}

// Parse reads any valid repository policy: Statement as an object or an
// array, Principal as "*" or a map of string-or-list, Action/NotAction as
// string or list, and Condition values as scalars or lists.
func Parse(text string) (*Document, error) {
	var top map[string]json.RawMessage
	if err := decodeStrict([]byte(text), &top); err != nil {
		return nil, fmt.Errorf("policy is not a JSON object: %w", err)
	}
	doc := &Document{}
	for key, raw := range top {
		var err error
		switch key {
		case "Version":
			err = json.Unmarshal(raw, &doc.Version)
		case "Id":
			err = json.Unmarshal(raw, &doc.ID)
		case "Statement":
			doc.Statement, err = parseStatements(raw)
		default:
			err = errors.New("unknown element")
		}
		if err != nil {
			return nil, fmt.Errorf("policy element %q: %w", key, err)
		}
	}
	if _, ok := top["Statement"]; !ok {
		return nil, errors.New("policy has no Statement element")
	}
	sort.Slice(doc.Statement, func(i, j int) bool {
		return doc.Statement[i].key() < doc.Statement[j].key()
	})
	return doc, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func parseStatements(raw json.RawMessage) ([]Statement, error) {
	var list []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		list = append(list, one)
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("must be an object or an array of objects")
	}
	out := make([]Statement, 0, len(list))
	for i, m := range list {
		st, err := parseStatement(m)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func parseStatement(m map[string]json.RawMessage) (Statement, error) {
	var st Statement
	for key := range m {
		if !knownStatementKeys[key] {
			return st, fmt.Errorf("unknown element %q", key)
		}
	}
	var err error
	field := func(name string, fn func(json.RawMessage) error) {
		raw, ok := m[name]
		if !ok || err != nil {
			return
		}
		if e := fn(raw); e != nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
	}
	field("Sid", func(r json.RawMessage) error { return json.Unmarshal(r, &st.Sid) })
	field("Effect", func(r json.RawMessage) error { return json.Unmarshal(r, &st.Effect) })
	field("Principal", func(r json.RawMessage) (e error) { st.Principal, e = parsePrincipal(r); return })
	field("NotPrincipal", func(r json.RawMessage) (e error) { st.NotPrincipal, e = parsePrincipal(r); return })
	// IAM matches action names case-insensitively.
	field("Action", func(r json.RawMessage) (e error) { st.Action, e = parseStringList(r, strings.ToLower); return })
	field("NotAction", func(r json.RawMessage) (e error) { st.NotAction, e = parseStringList(r, strings.ToLower); return })
	field("Resource", func(r json.RawMessage) (e error) { st.Resource, e = parseStringList(r, nil); return })
	field("NotResource", func(r json.RawMessage) (e error) { st.NotResource, e = parseStringList(r, nil); return })
	field("Condition", func(r json.RawMessage) (e error) { st.Condition, e = parseCondition(r); return })
	return st, err
}

// parseStringList accepts a string or a list of strings and returns the
// values sorted and de-duplicated, each passed through norm when given.
func parseStringList(raw json.RawMessage, norm func(string) string) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		raw = json.RawMessage(fmt.Sprintf("[%s]", raw))
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("must be a string or a list of strings")
	}
	if norm != nil {
		for i := range list {
			list[i] = norm(list[i])
		}
	}
	return sortedUnique(list), nil
}

var accountRootARN = regexp.MustCompile(`^arn:[a-z-]+:iam::([0-9]{12}):root$`)

func parsePrincipal(raw json.RawMessage) (*Principal, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s != "*" {
			return nil, fmt.Errorf("must be \"*\" or a map, got %q", s)
		}
		return &Principal{Wildcard: true}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New(`must be "*" or a map of principal type to identifiers`)
	}
	p := &Principal{IDs: make(map[string][]string, len(m))}
	for typ, v := range m {
		ids, err := parseStringList(v, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		if typ == "AWS" {
			// IAM stores a bare account ID and its root ARN as the same
			// principal; compare them as the account ID.
			for i, id := range ids {
				if m := accountRootARN.FindStringSubmatch(id); m != nil {
					ids[i] = m[1]
				}
			}
			ids = sortedUnique(ids)
		}
		p.IDs[typ] = ids
	}
	return p, nil
}

func parseCondition(raw json.RawMessage) (map[string]map[string][]string, error) {
	var ops map[string]map[string]json.RawMessage
	if err := decodeStrict(raw, &ops); err != nil {
		return nil, errors.New("must be a map of operator to a map of key to values")
	}
	out := make(map[string]map[string][]string, len(ops))
	for op, keys := range ops {
		out[op] = make(map[string][]string, len(keys))
		for key, v := range keys {
			vals, err := scalarList(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op, key, err)
			}
			// Condition keys are case-insensitive in IAM, so two spellings
			// of one key would make the policy ambiguous.
			lk := strings.ToLower(key)
			if _, dup := out[op][lk]; dup {
				return nil, fmt.Errorf("%s: key %q appears twice (condition keys are case-insensitive)", op, key)
			}
			out[op][lk] = vals
		}
	}
	return out, nil
}

// scalarList reads a condition value: a string, number or boolean, or a list
// of them. IAM treats 5 and "5", true and "true" alike, so all become strings.
func scalarList(raw json.RawMessage) ([]string, error) {
	var v any
	if err := decodeStrict(raw, &v); err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		case bool:
			out = append(out, fmt.Sprint(x))
		default:
			return nil, errors.New("values must be strings, numbers or booleans")
		}
	}
	return sortedUnique(out), nil
}

func sortedUnique(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func (s Statement) key() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Canonical returns the document's canonical JSON: equal for any two
// policies that differ only in formatting, element order or list shape.
func (d *Document) Canonical() []byte {
	b, _ := json.Marshal(d)
	return b
}

// Equal reports whether two documents mean the same policy.
func Equal(a, b *Document) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Canonical(), b.Canonical())
}
