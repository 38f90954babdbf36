package ecrbaseline

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/policies"
)

// bootstrapDir returns a new directory holding a bootstrap with content
// and mode.
func bootstrapDir(t *testing.T, content []byte, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(path, content, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckBootstrap(t *testing.T) {
	arm64 := cdktest.ELF(elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_NONE)
	for _, tc := range []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string // "" for a bootstrap Lambda runs
	}{
		{"linux/arm64 executable", arm64, 0o755, ""},
		{"linux/arm64 position-independent executable", cdktest.ELF(elf.EM_AARCH64, elf.ET_DYN, elf.ELFOSABI_NONE), 0o755, ""},
		{"read and run by all, written by none", arm64, 0o555, ""},
		{"GNU/Linux ABI", cdktest.ELF(elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_LINUX), 0o755, ""},
		{"linux/amd64", cdktest.ELF(elf.EM_X86_64, elf.ET_EXEC, elf.ELFOSABI_NONE), 0o755,
			"bootstrap is built for ELFCLASS64 EM_X86_64, the function runs on arm64 (GOARCH=arm64)"},
		{"freebsd/arm64", cdktest.ELF(elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_FREEBSD), 0o755,
			"bootstrap is built for ELFOSABI_FREEBSD, the function runs on Linux (GOOS=linux)"},
		{"object file", cdktest.ELF(elf.EM_AARCH64, elf.ET_REL, elf.ELFOSABI_NONE), 0o755,
			"bootstrap is an ELF ET_REL, not an executable"},
		{"empty", nil, 0o755, "bootstrap is empty"},
		{"shell script", []byte("#!/bin/sh\nexec ./main\n"), 0o755,
			"bootstrap is not an ELF executable (build it with GOOS=linux GOARCH=arm64): bad magic number"},
		{"not executable", arm64, 0o644,
			"bootstrap has mode 0644: Lambda runs it as another user, so everyone must be able to read and run it (chmod 755)"},
		{"executable by its owner only", arm64, 0o700,
			"bootstrap has mode 0700: Lambda runs it as another user, so everyone must be able to read and run it (chmod 755)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBootstrap(filepath.Join(bootstrapDir(t, tc.content, tc.mode), "bootstrap"))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkBootstrap: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("checkBootstrap: %v\nwant %q", err, tc.want)
			}
		})
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bootstrap"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := "bootstrap is not a regular file (d---------)"
	if err := checkBootstrap(filepath.Join(dir, "bootstrap")); err == nil || err.Error() != want {
		t.Errorf("a directory: %v, want %q", err, want)
	}
}

// TestFailedBuildIsAnError: when building the function fails at synth,
// NewEnforcer panics with go build's message as its error, not jsii's
// JavaScript stack, and never falls back to Docker. The build here cannot fetch
// a single dependency.
func TestFailedBuildIsAnError(t *testing.T) {
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPROXY", "off")
	stack := newStack(t.TempDir())
	err := cdktest.Panic(t, func() {
		NewEnforcer(stack, "Enforcer", &EnforcerProps{PolicyText: jsii.String(policies.Baseline)})
	})
	if err == nil {
		t.Fatal("NewEnforcer did not panic")
	}
	// The jsii session outlives the failure: a callback left incomplete
	// would run every later call nested in it, until node's stack
	// overflows, here within 6000 calls.
	cdktest.Check(t, func() {
		for range 5000 {
			stack.Node().Id()
		}
	})
	root, rerr := cdktest.ModuleRoot()
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, want := range []string{
		"ecr-baseline Enforcer: build the function: go build ./functions/enforcer in " + root + ": exit status 1\n",
		"GOPROXY=off",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwant it to contain %q", err, want)
		}
	}
}
