// Package scripts tests the operator scripts with a stand-in AWS CLI: the
// real one needs an account, which this project's tests never have.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAWS answers the calls sweep.sh makes: the stack's ecr-baseline
// function outputs (FAKE_OUTPUTS, tab-separated), then the invocation,
// which answers with the sweep it queued, or fails when FAKE_FAIL is set.
// It records each payload, and the stack lookups and functions invoked
// when asked to.
const fakeAWS = `#!/usr/bin/env bash
set -eu
case "$1 $2" in
  "sts get-caller-identity") echo '{"Account":"123456789012"}' ;;
  "cloudformation describe-stacks")
    echo "$*" >> "${FAKE_CFN_LOG:-/dev/null}"
    printf '%b\n' "${FAKE_OUTPUTS-ecr-baseline-enforcer}" ;;
  "lambda invoke")
    payload="" out=""
    while [ $# -gt 0 ]; do
      case "$1" in --payload) payload=$2; shift ;; --function-name) echo "$2" >> "${FAKE_FN_LOG:-/dev/null}"; shift ;; --*) [ "$1" = --cli-binary-format ] || [ "$1" = --function-name ] || [ "$1" = --cli-read-timeout ] || [ "$1" = --query ] || [ "$1" = --output ] && shift ;; *) out=$1 ;; esac
      shift
    done
    echo "$payload" >> "$FAKE_LOG"
    if [ -n "${FAKE_FAIL:-}" ]; then
      echo '{"errorMessage":"sweep: nothing queued: load baseline /p: denied"}' > "$out"; echo Unhandled
    else
      echo '{"sweep":{"id":"4f2a","dryRun":true,"prefix":"team-a/","baselineVersion":3}}' > "$out"; echo None
    fi ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac
`

// TestSweepScriptQueuesOneSweep: one invocation with the sweep request,
// and the sweep's id with the query that sums its results; a refused
// request exits 1 with the function's error.
func TestSweepScriptQueuesOneSweep(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      []string
		wantExit int
		wantOut  string
	}{
		{"queued", nil, 0, `filter trigger = "sweep:4f2a" | stats count(*) by action`},
		{"refused", []string{"FAKE_FAIL=1"}, 1, "sweep: nothing queued: load baseline /p: denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "payloads")
			cmd := exec.Command("bash", "sweep.sh")
			cmd.Env = append(append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "FAKE_LOG="+log, "PREFIX=team-a/"), tc.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			}
			if code != tc.wantExit || !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("exit %d, want %d and %q\n%s", code, tc.wantExit, tc.wantOut, out)
			}
			if got, want := read(t, log), `{"action": "sweep", "dryRun": true, "prefix": "team-a/"}`+"\n"; got != want {
				t.Errorf("payloads %q, want one: %q", got, want)
			}
		})
	}
}

// TestSweepScriptRefusesUnclearDryRun: only an exact true or false is
// accepted, before any AWS call, so "TRUE" or "1" can never apply.
func TestSweepScriptRefusesUnclearDryRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"TRUE", "1", "yes", "False", ""} {
		t.Run(value, func(t *testing.T) {
			log := filepath.Join(dir, "payloads-"+value)
			cmd := exec.Command("bash", "sweep.sh")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "FAKE_LOG="+log, "DRY_RUN="+value)
			out, err := cmd.CombinedOutput()
			if value == "" {
				// Unset or empty means the default, a dry run.
				payloads, rerr := os.ReadFile(log)
				if rerr != nil || !strings.Contains(string(payloads), `"dryRun": true`) || strings.Contains(string(payloads), `"dryRun": false`) {
					t.Errorf("empty DRY_RUN sent %q (%v), want dry runs only", payloads, rerr)
				}
				return
			}
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 || !strings.Contains(string(out), "DRY_RUN must be true or false, got '"+value+"'") {
				t.Errorf("DRY_RUN=%s: exit %v\n%s", value, err, out)
			}
			if _, err := os.Stat(log); err == nil {
				t.Errorf("DRY_RUN=%s invoked the function", value)
			}
		})
	}
}

// TestSweepScriptFindsTheFunction: the function is the stack's one
// ecr-baseline FunctionName output, in the stack STACK names (EcrBaseline
// by default), unless FUNCTION names it; anything else stops before any
// invocation.
func TestSweepScriptFindsTheFunction(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      []string
		lookup   string // the describe-stacks call, "" for none
		function string // the function invoked, "" for none
		message  string // the error, for exit status 2
	}{
		{"default stack", nil, "--stack-name EcrBaseline", "ecr-baseline-enforcer", ""},
		{"another stack", []string{"STACK=Platform"}, "--stack-name Platform", "ecr-baseline-enforcer", ""},
		{"function given", []string{"STACK=Platform", "FUNCTION=my-fn"}, "", "my-fn", ""},
		{"no output", []string{"FAKE_OUTPUTS=None"}, "--stack-name EcrBaseline", "",
			"sweep: stack EcrBaseline has no ecr-baseline FunctionName output: deploy it first, or name the stack holding the construct (STACK=) or the function (FUNCTION=)"},
		{"two enforcers", []string{"STACK=Platform", `FAKE_OUTPUTS=fn-a\tfn-b`}, "--stack-name Platform", "",
			"sweep: stack Platform holds more than one enforcer (fn-a, fn-b): name one with FUNCTION="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := t.TempDir()
			cfnLog, fnLog := filepath.Join(logs, "cfn"), filepath.Join(logs, "fn")
			cmd := exec.Command("bash", "sweep.sh")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "FAKE_LOG="+filepath.Join(logs, "payloads"),
				"FAKE_CFN_LOG="+cfnLog, "FAKE_FN_LOG="+fnLog, "STACK=", "FUNCTION=")
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if tc.message != "" {
				if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.message) {
					t.Errorf("exit %v, want 2 and %q\n%s", err, tc.message, out)
				}
			}
			if got := read(t, cfnLog); (tc.lookup == "") != (got == "") || !strings.Contains(got, tc.lookup) {
				t.Errorf("stack lookup %q, want %q", got, tc.lookup)
			}
			want := ""
			if tc.function != "" {
				want = tc.function + "\n"
			}
			if got := read(t, fnLog); got != want {
				t.Errorf("functions invoked %q, want %q", got, want)
			}
		})
	}
}

// read returns the file's content, "" when it does not exist.
func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
