package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// templateVars are the variables Render substitutes. IAM policy variables
// (${aws:...}) are left for IAM to resolve; any other ${...} is a typo that
// would be written to every repository verbatim.
var templateVars = map[string]bool{
	"${AccountId}": true, "${Region}": true, "${RepositoryName}": true, "${RepositoryArn}": true,
}

var variable = regexp.MustCompile(`\$\{[^}]*\}?`)

// lintTemplate returns what encoding/json accepts but a baseline must not
// hold: a key twice in one object (the decoder keeps the last, so a
// reviewer reads one Effect and ECR gets another), a control character in a
// string (invisible in a review, and a Sid may hold only letters and
// digits anyway), a number too large for a float64 (1e999 reads as
// infinity) and a ${...} that is not a known variable. data must be valid
// JSON; each problem names where it is, as a path of keys and indexes.
func lintTemplate(data []byte) []error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var problems []error
	str := func(s, path string) {
		for _, r := range s {
			// Cf holds the zero-width and bidirectional marks, as invisible
			// in a review as a control character (U+202E reverses text).
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				problems = append(problems, fmt.Errorf("control character %U in a string at %s", r, path))
				break
			}
		}
		for _, v := range variable.FindAllString(s, -1) {
			switch {
			case !strings.HasSuffix(v, "}"):
				problems = append(problems, fmt.Errorf("unterminated variable %s at %s", v, path))
			case !templateVars[v] && !strings.HasPrefix(v, "${aws:"):
				problems = append(problems, fmt.Errorf("unknown variable %s at %s (known: ${AccountId}, ${Region}, ${RepositoryName}, ${RepositoryArn} and IAM's ${aws:...})", v, path))
			}
		}
	}
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '[' {
				for i := 0; dec.More(); i++ {
					if err := walk(fmt.Sprintf("%s/%d", path, i)); err != nil {
						return err
					}
				}
			}
			if t == '{' {
				seen := map[string]bool{}
				for dec.More() {
					tok, err := dec.Token()
					if err != nil {
						return err
					}
					key, _ := tok.(string)
					child := path + "/" + key
					if seen[key] {
						problems = append(problems, fmt.Errorf("key %q appears twice at %s; JSON keeps only the last", key, pathText(path)))
					}
					seen[key] = true
					str(key, child)
					if err := walk(child); err != nil {
						return err
					}
				}
			}
			_, err := dec.Token() // the closing delimiter
			return err
		case string:
			str(t, pathText(path))
		case json.Number:
			if f, _ := strconv.ParseFloat(t.String(), 64); math.IsInf(f, 0) {
				problems = append(problems, fmt.Errorf("number %s at %s is beyond what a float64 holds", t, pathText(path)))
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return append(problems, fmt.Errorf("read template: %w", err))
	}
	return problems
}

// pathText shows the root of a document as "/".
func pathText(path string) string {
	if path == "" {
		return "/"
	}
	return path
}
