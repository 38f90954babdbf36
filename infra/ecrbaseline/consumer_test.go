package ecrbaseline

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
)

// embedHeading is the README section whose first Go block is a whole CDK
// app embedding the construct.
const embedHeading = "## Embed it in your CDK app"

// readmeApp returns the first Go code block of the README's embedHeading
// section.
func readmeApp(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+embedHeading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", embedHeading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, code, ok := strings.Cut(section, "\n```go\n")
	if !ok {
		t.Fatalf("README.md's %q section has no Go code block", embedHeading)
	}
	code, _, _ = strings.Cut(code, "\n```")
	return code
}

// TestConsumerModule does what the README tells a team that embeds the
// construct to do: a module of its own that requires this one (through a
// replace of this checkout, where a team would go get a version), the
// README's app, go mod tidy, and the app run as `cdk synth` runs it. Nothing
// else is built first: the function is built at synth, and its asset must
// be a linux/arm64 executable, and the props the README shows must reach
// the template. One synthesis, in a process of its own.
func TestConsumerModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a CDK app in a module of its own and synthesizes it")
	}
	root, err := cdktest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(readmeApp(t, root)), 0o644); err != nil {
		t.Fatal(err)
	}
	outdir := filepath.Join(dir, "cdk.out")
	run := func(env []string, args ...string) {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		// The workspace, if any, is this checkout's, not the team's.
		cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("%s: %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	}
	run(nil, "go", "mod", "init", "example.com/platform")
	run(nil, "go", "mod", "edit", "-replace", modulePath+"="+root)
	run(nil, "go", "mod", "tidy")
	// What `cdk synth` does with cdk.json's "app": "go run .".
	run([]string{"CDK_OUTDIR=" + outdir}, "go", "run", ".")

	manifests, err := filepath.Glob(filepath.Join(outdir, "*.assets.json"))
	if err != nil || len(manifests) != 1 {
		t.Fatalf("asset manifests %v (%v), want the one stack's", manifests, err)
	}
	stack := strings.TrimSuffix(filepath.Base(manifests[0]), ".assets.json")
	asset, hash, err := cdktest.FunctionAsset(outdir, stack)
	if err != nil {
		t.Fatal(err)
	}
	cdktest.CheckLinuxARM64(t, filepath.Join(asset, "bootstrap"))

	b, err := os.ReadFile(filepath.Join(outdir, stack+".template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl cdktest.Template
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	functions := tmpl.LogicalIDs("AWS::Lambda::Function")
	if len(functions) != 1 {
		t.Fatalf("functions %v, want one", functions)
	}
	code := tmpl.Resource(t, "AWS::Lambda::Function", functions[0])["Code"].(map[string]any)
	if code["S3Key"] != hash+".zip" {
		t.Errorf("function code %v, want the built asset %s.zip", code, hash)
	}
	// The README's app gives an alarm topic: every alarm must notify it.
	alarms := tmpl.LogicalIDs("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Error("no alarms")
	}
	for _, id := range alarms {
		alarm := tmpl.Resource(t, "AWS::CloudWatch::Alarm", id)
		if alarm["AlarmActions"] == nil || alarm["OKActions"] == nil {
			t.Errorf("alarm %s has no actions: %v", id, alarm)
		}
	}
	if len(tmpl.LogicalIDs("AWS::CloudWatch::Dashboard")) != 1 {
		t.Error("no dashboard")
	}
	outputs, _ := tmpl["Outputs"].(map[string]any)
	var found []string
	for key := range outputs {
		if strings.HasSuffix(key, "FunctionName") {
			found = append(found, key)
		}
	}
	if len(found) != 1 {
		t.Errorf("outputs %v, want one ending in FunctionName", outputs)
	}
}

// TestModuleHasNoReplace: go install ...@version refuses a module whose
// go.mod has a replace directive, and a module that requires this one
// ignores it, so a replace would only hide a build that fails for them.
func TestModuleHasNoReplace(t *testing.T) {
	out, err := exec.Command("go", "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		Module  struct{ Path string }
		Replace []any
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	if len(mod.Replace) > 0 {
		t.Errorf("go.mod replaces %v; the main module must not replace anything", mod.Replace)
	}
	if mod.Module.Path != modulePath {
		t.Errorf("go.mod's module is %s; the construct builds the function from %s", mod.Module.Path, modulePath)
	}
}
