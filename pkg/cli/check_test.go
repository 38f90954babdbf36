package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/fleet"
	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// newTemplate is a baseline change to preview: the deny statement renamed
// (one removed, one added) and the pull statement narrowed (changed).
const newTemplate = `{"Version":"2012-10-17","Statement":[
 {"Sid":"BaselineDenyPlainHTTP","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
 {"Sid":"BaselineAllowAccountPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`

// publicTemplate is refused by a guardrail, from a file as from SSM.
const publicTemplate = `{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`

// decodeReport parses stdout as exactly one report, refusing any field
// the type does not name.
func decodeReport[R, S any](t *testing.T, out string) Report[R, S] {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var rep Report[R, S]
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one document:\n%s", out)
	}
	return rep
}

// backfillReport is the report of backfill and check.
type backfillReport = Report[enforcer.Result, backfill.Summary]

// diffs maps each result's repository to its diff, as the report holds
// them.
func diffs(rep backfillReport) map[string]string {
	out := map[string]string{}
	for _, r := range rep.Results {
		out[r.Repository] = string(r.Action) + ": " + r.Diff.String()
	}
	return out
}

// TestCheckOnMoto runs check, the CI gate, on a clean and a drifted part
// of a fleet, and previews a new template from a file with backfill and
// check: each exit code, each report parsed back, and nothing written.
func TestCheckOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	f := fleet.New(cfg, policies.Baseline)
	var repos []fleet.Repo
	for _, name := range []string{"clean/a", "clean/b"} {
		rendered, err := f.Rendered(name)
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, fleet.Repo{Name: name, Policy: rendered})
	}
	repos = append(repos, fleet.Repo{Name: "drift/team", Policy: teamPolicy}, fleet.Repo{Name: "drift/none"})
	if err := f.Seed(ctx, repos...); err != nil {
		t.Fatal(err)
	}
	before, err := f.ReadBack(ctx, []string{"clean/a", "clean/b", "drift/team", "drift/none"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	newFile, publicFile := writeFile(t, dir, "new.json", newTemplate), writeFile(t, dir, "public.json", publicTemplate)

	const baselineAdded = "would-apply: added BaselineAllowAccountPull, BaselineDenyInsecureTransport"
	const preview = "would-apply: added BaselineDenyPlainHTTP; removed BaselineDenyInsecureTransport; changed BaselineAllowAccountPull"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		// wantDiffs is each repository's action and diff in the report.
		wantDiffs map[string]string
		wantSum   string // the summary's counts, as the text line reads
		wantFrom  string // where the report says --dry-run came from
		baseline  string // the report's baseline
		wantErr   string // the report's error
	}{
		{"clean fleet", []string{"check", "--prefix", "clean/"}, ExitOK,
			map[string]string{"clean/a": "unchanged: no change", "clean/b": "unchanged: no change"},
			"scanned 2 would apply 0 unchanged 2 failed 0", "check", "parameter /ecr-baseline/baseline-policy", ""},
		{"drifted fleet", []string{"check"}, ExitChanges,
			map[string]string{"clean/a": "unchanged: no change", "clean/b": "unchanged: no change",
				"drift/team": baselineAdded + "; removed TeamPull", "drift/none": baselineAdded},
			"scanned 4 would apply 2 unchanged 2 failed 0", "check", "parameter /ecr-baseline/baseline-policy", ""},
		{"a template previewed by check", []string{"check", "--prefix", "clean/", "--policy-file", newFile}, ExitChanges,
			map[string]string{"clean/a": preview, "clean/b": preview},
			"scanned 2 would apply 2 unchanged 0 failed 0", "check", "file " + newFile, ""},
		{"a template previewed by backfill", []string{"backfill", "--policy-file", newFile}, ExitOK,
			map[string]string{"clean/a": preview, "clean/b": preview,
				"drift/team": "would-apply: added BaselineAllowAccountPull, BaselineDenyPlainHTTP; removed TeamPull",
				"drift/none": "would-apply: added BaselineAllowAccountPull, BaselineDenyPlainHTTP"},
			"scanned 4 would apply 4 unchanged 0 failed 0", "--policy-file", "file " + newFile, ""},
		{"a template refused by a guardrail", []string{"backfill", "--policy-file", publicFile}, ExitFailed, map[string]string{}, "",
			"--policy-file", "file " + publicFile, "backfill: nothing enforced: load baseline " + publicFile +
				`: baseline would grant access outside this account: statement "Open": Allow to "*" would make every repository public`},
		{"a missing template", []string{"check", "--policy-file", filepath.Join(dir, "none.json")}, ExitFailed, map[string]string{}, "",
			"check", "file " + filepath.Join(dir, "none.json"), "no such file or directory"},
		{"check never writes", []string{"check", "--dry-run=false"}, ExitUsage, map[string]string{}, "", "", "",
			"check never writes: --dry-run=false is refused"},
		{"a preview never writes", []string{"backfill", "--policy-file", newFile, "--dry-run=false"}, ExitUsage, map[string]string{}, "", "", "",
			"--policy-file never writes: --dry-run=false is refused"},
		{"a bad setting", []string{"check", "--concurrency", "0"}, ExitUsage, map[string]string{}, "", "", "",
			`--concurrency must be a positive whole number, got "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runWith(ctx, lookup, nil, append(tt.args, "--quiet", "--output", "json")...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			rep := decodeReport[enforcer.Result, backfill.Summary](t, out)
			// A run refused before the AWS configuration is loaded names
			// no region.
			region := "us-east-1"
			if strings.Contains(tt.wantErr, "refused") {
				region = ""
			}
			if rep.Command != tt.args[0] || rep.ExitCode != tt.wantCode || rep.Baseline != tt.baseline || rep.Region != region {
				t.Errorf("report: command %q, exit %d, baseline %q, region %q; want %q, %d, %q, %q",
					rep.Command, rep.ExitCode, rep.Baseline, rep.Region, tt.args[0], tt.wantCode, tt.baseline, region)
			}
			if !strings.Contains(rep.Error, tt.wantErr) || (tt.wantErr == "") != (rep.Error == "") {
				t.Errorf("report error %q, want one containing %q", rep.Error, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantDiffs, diffs(rep)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			sum := ""
			if s := rep.Summary; s != nil {
				sum = fmt.Sprintf("scanned %d would apply %d unchanged %d failed %d", s.Scanned, s.WouldApply, s.Unchanged, s.Failed)
			}
			if sum != tt.wantSum {
				t.Errorf("summary %q, want %q", sum, tt.wantSum)
			}
			if got := settingFrom(rep.Settings, "dry-run"); tt.wantFrom != "" && got != "true from "+tt.wantFrom {
				t.Errorf("--dry-run is %s, want true from %s", got, tt.wantFrom)
			}
		})
	}
	after, err := f.ReadBack(ctx, []string{"clean/a", "clean/b", "drift/team", "drift/none"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("check and previews wrote (-before +after):\n%s", diff)
	}
}

// settingFrom is a setting's value and source in a report: "true from
// check".
func settingFrom(settings []Setting, flag string) string {
	for _, s := range settings {
		if s.Flag == flag {
			return s.Value + " from " + s.From
		}
	}
	return "absent"
}

// TestPreviewTable is the text a person reads: a statement-level diff per
// repository, and the exit code of check.
func TestPreviewTable(t *testing.T) {
	ctx := context.Background()
	cfg, lookup := freshMoto(t)
	f := fleet.New(cfg, policies.Baseline)
	if err := f.Seed(ctx, fleet.Repo{Name: "team/app", Policy: teamPolicy}); err != nil {
		t.Fatal(err)
	}
	newFile := writeFile(t, t.TempDir(), "new.json", newTemplate)
	code, out, errOut := runWith(ctx, lookup, nil, "check", "--quiet", "--policy-file", newFile)
	checkRun(t, code, out, errOut, ExitChanges, []string{
		"REPOSITORY  RESULT       DIFF                                                                     REASON",
		"team/app    would-apply  added BaselineAllowAccountPull, BaselineDenyPlainHTTP; removed TeamPull  policy differs from baseline",
		"scanned 1: applied 0, would apply 1, unchanged 0, skipped 0, exempt 0, failed 0",
	})
	for _, want := range []string{
		`--dry-run             "true"                           check`,
		"baseline: " + newFile + " (a preview: nothing is written)\n",
		"check: 1 of 1 repositories would change\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
