package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo lists one package holding FuzzA and FuzzB, and fuzzes FuzzA the
// way FAKE_MODE says; FuzzB always passes. It records each test command.
const fakeGo = `#!/usr/bin/env bash
set -eu
case "$1" in
  list) echo "example.com/p:$FAKE_PKG" ;;
  test)
    echo "$*" >> "$FAKE_LOG"
    fn=""
    while [ $# -gt 0 ]; do [ "$1" = -fuzz ] && fn=$2; shift; done
    if [ "$fn" = '^FuzzA$' ]; then
      case "$FAKE_MODE" in
        pass) ;;
        deadline) printf -- '--- FAIL: FuzzA (60.1s)\n    context deadline exceeded\nFAIL\n'; exit 1 ;;
        crash) mkdir -p "$FAKE_PKG/testdata/fuzz/FuzzA"; touch "$FAKE_PKG/testdata/fuzz/FuzzA/0123"
          printf -- '--- FAIL: FuzzA (3.2s)\n    --- FAIL: FuzzA (0.00s)\n        fuzz_test.go:9: boom\n    Failing input written to testdata/fuzz/FuzzA/0123\nFAIL\n'; exit 1 ;;
        deadline-and-more) printf -- '--- FAIL: FuzzA (60.1s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\n    context deadline exceeded\nFAIL\n'; exit 1 ;;
      esac
    fi
    echo ok ;;
esac
`

func TestFuzzScript(t *testing.T) {
	tests := []struct {
		mode     string
		wantExit int
		wantOut  string
	}{
		{"pass", 0, "fuzz: every target ran for 7s without a failing input"},
		{"deadline", 0, "FuzzA stopped on Go's fuzz coordinator race at the end of FUZZTIME (go.dev/issue/75804); no failing input: not a finding"},
		{"crash", 1, "fuzz: FAILED example.com/p FuzzA"},
		{"deadline-and-more", 1, "fuzz: FAILED example.com/p FuzzA"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			dir, pkg := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go"), []byte(fakeGo), 0o755); err != nil {
				t.Fatal(err)
			}
			src := "package p\n\nfunc FuzzA(f *testing.F) {}\n\nfunc FuzzB(f *testing.F) {}\n"
			if err := os.WriteFile(filepath.Join(pkg, "p_test.go"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "commands")
			cmd := exec.Command("bash", "fuzz.sh")
			cmd.Env = append(os.Environ(), "GO="+filepath.Join(dir, "go"), "FUZZTIME=7s", "FUZZFLAGS=-parallel=1",
				"FAKE_PKG="+pkg, "FAKE_LOG="+log, "FAKE_MODE="+tt.mode)
			out, err := cmd.Output()
			exit := 0
			if e, ok := err.(*exec.ExitError); ok {
				exit = e.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tt.wantExit || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s", exit, tt.wantExit, tt.wantOut, out)
			}
			// Every target runs, after a failure too, with the flags given.
			commands, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			want := "test -run ^$ -fuzz ^FuzzA$ -fuzztime 7s -parallel=1 example.com/p\n" +
				"test -run ^$ -fuzz ^FuzzB$ -fuzztime 7s -parallel=1 example.com/p\n"
			if string(commands) != want {
				t.Errorf("commands\n%s\nwant\n%s", commands, want)
			}
		})
	}
}
