package ecrbaseline

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"
)

// functionPackage is the function's main package, relative to the root of
// this module.
const functionPackage = "functions/enforcer"

// modulePath is this module's path, from this package's import path, so
// that it cannot drift from go.mod.
var modulePath = strings.TrimSuffix(reflect.TypeFor[Enforcer]().PkgPath(), "/infra/ecrbaseline")

// functionCode is the function's code: by default the function built from
// this module's source when CDK stages the asset; with the CodePath prop,
// the prebuilt bootstrap in that directory, checked now. The build is nil
// for a prebuilt bootstrap.
func functionCode(prebuilt *string) (awslambda.Code, *goBuild, error) {
	if prebuilt != nil && *prebuilt != "" {
		codePath := *prebuilt
		if err := checkBootstrap(filepath.Join(codePath, "bootstrap")); err != nil {
			return nil, nil, fmt.Errorf("CodePath %s: %w (leave CodePath empty to build the function at synth)", codePath, err)
		}
		return awslambda.Code_FromAsset(jsii.String(codePath), nil), nil, nil
	}
	dir, err := moduleDir()
	if err != nil {
		return nil, nil, fmt.Errorf("build the function: %w", err)
	}
	build := &goBuild{moduleDir: dir}
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(dir, functionPackage)), &awss3assets.AssetOptions{
		// The hash of the bootstrap built, not of the function's folder:
		// a change anywhere in pkg/ changes the function, and CDK reuses a
		// staged asset whose hash it already knows without building again.
		// Go builds with -trimpath are reproducible, so an unchanged
		// function keeps its hash and is not deployed again.
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			Local: build,
			// Required by the type, never run: goBuild never declines.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("unused-ecr-baseline-builds-locally")),
		},
	}), build, nil
}

// goBuild builds the function with the local Go toolchain as CDK's local
// bundling, so synth needs neither Docker nor a prebuilt binary.
type goBuild struct {
	moduleDir string
	// failure is why the build failed: CDK only sees an empty output.
	failure error
}

// TryBundle builds bootstrap into outputDir. On failure it keeps the
// error and leaves outputDir empty, and still says it bundled: returning
// false would make CDK try Docker. It does not panic: jsii-runtime-go
// v1.139.0 returns a callback's panic to the Go caller without completing
// the callback in the jsii kernel, which then runs every later call nested
// inside it until node's stack overflows (a RangeError in some later,
// unrelated construct). CDK then refuses the empty output ("Bundling did
// not produce any output") from the function's constructor, and
// panicWithFailure puts the build's error in place of that.
func (b *goBuild) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := buildBootstrap(b.moduleDir, *outputDir); err != nil {
		b.failure = fmt.Errorf("build the function: %w", err)
		// So that CDK stops at the empty output; should the remove fail,
		// panicWithFailure still panics once the function is created.
		_ = os.Remove(filepath.Join(*outputDir, "bootstrap"))
	}
	return jsii.Bool(true)
}

// panicWithFailure, deferred in NewEnforcer, panics with the failed
// build's error, naming the construct, in place of CDK's "Bundling did
// not produce any output". Any other panic goes on.
func (b *goBuild) panicWithFailure(id string) {
	if b == nil || b.failure == nil {
		return
	}
	recover()
	panic(fmt.Errorf("ecr-baseline %s: %w", id, b.failure))
}

// moduleDir finds this module's source through the go.mod of the directory
// the CDK app runs in: the version the app was built with, from the module
// cache, or the directory a replace or go.work points at.
func moduleDir() (string, error) {
	out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-f", "{{.Dir}}", modulePath).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
		}
		return "", fmt.Errorf("find %s with go list -m (run the CDK app in a Go module that requires it, or set CodePath): %w",
			modulePath, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%s is not in the module cache: run go mod download %s, or set CodePath", modulePath, modulePath)
	}
	return dir, nil
}

// buildBootstrap builds the function into outDir/bootstrap, the way `make
// build` does, in the module's own directory: with the dependency versions
// of this module's go.mod and go.sum (as go install does), whatever the
// embedding app's go.mod selects, and without adding anything to it.
func buildBootstrap(moduleDir, outDir string) error {
	out := filepath.Join(outDir, "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, "./"+functionPackage)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(),
		"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0",
		// The app's GOFLAGS (-mod=mod, -race, -cover, ...) are not for this
		// build, and VCS stamping would change the binary, and so the
		// asset, with every commit of a replaced checkout.
		"GOFLAGS=-mod=readonly -buildvcs=false",
		// The module's own go.mod decides, even inside a workspace.
		"GOWORK=off")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./%s in %s: %w\n%s", functionPackage, moduleDir, err, output)
	}
	// go build applies the umask; Lambda runs bootstrap as another user.
	if err := os.Chmod(out, 0o755); err != nil {
		return err
	}
	return checkBootstrap(out)
}

// checkBootstrap says why the file at path cannot be the function's
// bootstrap on provided.al2023 for arm64, which Lambda would only report
// when the function starts: it must be a linux/arm64 ELF executable that
// every user may read and run, as Lambda runs it as another user than the
// file's owner.
func checkBootstrap(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("no bootstrap: %w", err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("bootstrap is not a regular file (%s)", st.Mode().Type())
	case st.Size() == 0:
		return errors.New("bootstrap is empty")
	case st.Mode().Perm()&0o555 != 0o555:
		return fmt.Errorf("bootstrap has mode %04o: Lambda runs it as another user, so everyone must be able to read and run it (chmod 755)",
			st.Mode().Perm())
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("bootstrap is not an ELF executable (build it with GOOS=linux GOARCH=arm64): %w", err)
	}
	defer f.Close()
	switch {
	case f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_AARCH64:
		return fmt.Errorf("bootstrap is built for %s %s, the function runs on arm64 (GOARCH=arm64)", f.Class, f.Machine)
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("bootstrap is built for %s, the function runs on Linux (GOOS=linux)", f.OSABI)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("bootstrap is an ELF %s, not an executable", f.Type)
	}
	return nil
}
