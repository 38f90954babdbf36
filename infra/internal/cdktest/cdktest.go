// Package cdktest holds what the infra tests share: turning the panics of
// failed jsii assertions into test failures and those of refused input
// into errors, reading a synthesized template
// as plain JSON, and a stand-in for the function's bootstrap.
package cdktest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
)

// RepositoryEventPattern is the repository rule's EventPattern as the
// templates hold it: a single account's rule, an organisation hub's bus
// rule and the member stack's forwarding rule all have this one.
const RepositoryEventPattern = `{
	"source": ["aws.ecr"],
	"detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"],
	"detail": {
		"eventSource": ["ecr.amazonaws.com", "replication.ecr.amazonaws.com"],
		"eventName": ["CreateRepository", "SetRepositoryPolicy", "DeleteRepositoryPolicy", "TagResource", "UntagResource"],
		"errorCode": [{"exists": false}]
	}
}`

// Main runs m's tests with a temporary directory, handed to setup first
// and removed at the end, then exits with the tests' status.
func Main(m *testing.M, setup func(dir string) error) {
	dir, err := os.MkdirTemp("", "infra-test-")
	if err == nil {
		err = setup(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	// No jsii.Close: in jsii-runtime-go v1.139.0 it waits on the node
	// process while the runtime's own goroutine does too, and -race reports
	// that. Exiting closes node's stdin, which ends it; the cost is the
	// runtime's 2 MB scratch directory, left in $TMPDIR.
	os.RemoveAll(dir)
	os.Exit(code)
}

// Check runs a jsii assertion and reports its failure on t. A failed
// assertion panics, which would otherwise end the whole test binary.
func Check(t testing.TB, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("assertion failed: %v", r)
		}
	}()
	assertion()
}

// Panic runs f and returns the error it panicked with, or nil when it
// returned: CDK's constructs, and this project's, report input they
// cannot use by panicking. A panic with anything but an error fails t.
func Panic(t testing.TB, f func()) (err error) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		e, ok := r.(error)
		if !ok {
			t.Fatalf("panic with %T %v, want an error", r, r)
		}
		err = e
	}()
	f()
	return nil
}

// Template is a synthesized CloudFormation template decoded into plain Go
// values (maps, slices, strings, float64), for comparisons with cmp.Diff.
type Template map[string]any

// FromAssertions decodes an assertions.Template.
func FromAssertions(t testing.TB, tmpl assertions.Template) Template {
	t.Helper()
	var out Template
	if err := json.Unmarshal(mustJSON(t, tmpl.ToJSON()), &out); err != nil {
		t.Fatalf("decode template: %v", err)
	}
	return out
}

// JSON decodes a JSON literal, so expectations can be written as the
// template would print them.
func JSON(t testing.TB, text string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("decode expectation: %v\n%s", err, text)
	}
	return v
}

// Resource returns the properties of the resource with the given logical
// ID, failing t when it is missing or of another type.
func (tm Template) Resource(t testing.TB, typ, logicalID string) map[string]any {
	t.Helper()
	r, _ := tm.resources()[logicalID].(map[string]any)
	if r == nil {
		t.Fatalf("no resource %s in the template", logicalID)
	}
	if r["Type"] != typ {
		t.Fatalf("resource %s is a %v, want %s", logicalID, r["Type"], typ)
	}
	props, _ := r["Properties"].(map[string]any)
	return props
}

// LogicalIDs returns the sorted logical IDs of every resource of type typ.
func (tm Template) LogicalIDs(typ string) []string {
	var ids []string
	for id, r := range tm.resources() {
		if m, _ := r.(map[string]any); m["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (tm Template) resources() map[string]any {
	r, _ := tm["Resources"].(map[string]any)
	return r
}

// LogicalID returns the logical ID of an L2 construct's CloudFormation
// resource in its stack.
func LogicalID(c constructs.IConstruct) string {
	child := c.Node().DefaultChild().(awscdk.CfnElement)
	return *awscdk.Stack_Of(c).GetLogicalId(child)
}

// DummyCode writes a stand-in bootstrap into a new directory under dir and
// returns that directory, for a CodePath that skips the build: the
// construct checks the file's ELF header, not the program, so an arm64
// header with nothing after it passes.
func DummyCode(dir string) (string, error) {
	code := filepath.Join(dir, "code")
	if err := os.MkdirAll(code, 0o755); err != nil {
		return "", fmt.Errorf("dummy code: %w", err)
	}
	header := ELF(elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_NONE)
	if err := os.WriteFile(filepath.Join(code, "bootstrap"), header, 0o755); err != nil {
		return "", fmt.Errorf("dummy code: %w", err)
	}
	return code, nil
}

// ELF returns a 64-bit little-endian ELF header for machine, of type typ
// and OS ABI osabi, with no program or section: what debug/elf reads of a
// file without anything to run.
func ELF(machine elf.Machine, typ elf.Type, osabi elf.OSABI) []byte {
	h := elf.Header64{
		Type: uint16(typ), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h.Ident[elf.EI_OSABI] = byte(osabi)
	var b bytes.Buffer
	// A bytes.Buffer never fails a write.
	_ = binary.Write(&b, binary.LittleEndian, h)
	return b.Bytes()
}

// FunctionAsset returns the directory of the one zip asset, the function's
// code, in the cloud assembly at outdir for stack, and its hash, which
// the function's S3Key names.
func FunctionAsset(outdir, stack string) (dir, hash string, err error) {
	b, err := os.ReadFile(filepath.Join(outdir, stack+".assets.json"))
	if err != nil {
		return "", "", fmt.Errorf("asset manifest: %w", err)
	}
	var manifest struct {
		Files map[string]struct {
			Source struct{ Path, Packaging string }
		}
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		return "", "", fmt.Errorf("asset manifest: %w", err)
	}
	for h, f := range manifest.Files {
		if f.Source.Packaging != "zip" {
			continue
		}
		if dir != "" {
			return "", "", fmt.Errorf("asset manifest: more than one zip asset")
		}
		dir, hash = filepath.Join(outdir, f.Source.Path), h
	}
	if dir == "" {
		return "", "", fmt.Errorf("asset manifest: no zip asset")
	}
	return dir, hash, nil
}

// CheckLinuxARM64 fails t unless the file at path is a linux/arm64 ELF
// executable everyone may read and run: what provided.al2023 on arm64
// starts as bootstrap.
func CheckLinuxARM64(t testing.TB, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %04o, want 0755", path, st.Mode().Perm())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("%s is %s %s %s, want a linux/arm64 executable (EM_AARCH64 ET_EXEC ELFOSABI_NONE)", path, f.Machine, f.Type, f.OSABI)
	}
	t.Logf("%s: linux/arm64 executable, %.1f MB", filepath.Base(path), float64(st.Size())/1e6)
}

// ModuleRoot returns the directory of the go.mod above the working
// directory: tests run in their package's directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode template: %v", err)
	}
	return b
}
