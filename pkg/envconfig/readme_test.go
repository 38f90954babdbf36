package envconfig

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the root README's Configuration
// table to the table here: a row per setting with its variable, context
// key, flag and default.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(text), "\n") {
		cells := strings.Split(line, " | ")
		if strings.HasPrefix(line, "| `") && len(cells) >= 5 {
			rows[strings.TrimPrefix(cells[0], "| ")] = cells[1:]
		}
	}
	code := func(s string) string { return "`" + s + "`" }
	for _, s := range Settings {
		cells, ok := rows[code(s.Env)]
		if !ok {
			t.Errorf("README has no row for %s", s.Env)
			continue
		}
		flag, def := "—", "—"
		if s.Flag != "" {
			flag = code("--" + s.Flag)
		}
		if s.Default != "" {
			def = code(s.Default)
		}
		if s.Context != "" && cells[0] != code(s.Context) {
			t.Errorf("README row %s: context key %s, want %s", s.Env, cells[0], code(s.Context))
		}
		if cells[1] != flag {
			t.Errorf("README row %s: flag %s, want %s", s.Env, cells[1], flag)
		}
		if !strings.HasPrefix(cells[2], def) {
			t.Errorf("README row %s: default %s, want %s", s.Env, cells[2], def)
		}
	}
}
