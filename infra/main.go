// Command infra is the CDK app of ecr-baseline: `cdk synth` and `cdk deploy`
// run it (see cdk.json). It reads its settings from the CDK context and
// deploys one stack holding the ecrbaseline.Enforcer construct; in
// organisation mode it also synthesizes the member stack
// (docs/organization.md).
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// StackName is the name of the deployed stack; MemberStackName the member
// stack's, which the app synthesizes in organisation mode only.
const (
	StackName       = "EcrBaseline"
	MemberStackName = "EcrBaselineMember"
)

func main() {
	err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ecr-baseline infra:", err)
	}
	// After the error, not deferred: Close may print a spurious "Runtime
	// process exited abnormally" (a race inside jsii-runtime-go v1.139.0)
	// that should not hide it.
	jsii.Close()
	if err != nil {
		os.Exit(1)
	}
}

func run() (err error) {
	// The stack and the construct panic with an error on input they
	// cannot use, as CDK's constructs do; the message is all the operator
	// needs, not a goroutine trace. A runtime error is a bug, and keeps
	// its trace.
	defer func() {
		r := recover()
		if e, ok := r.(error); ok && !isRuntimeError(e) {
			err = e
		} else if r != nil {
			panic(r)
		}
	}()
	app := awscdk.NewApp(nil)
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	NewStack(app, StackName, &StackProps{Config: cfg})
	NewMemberStack(app, MemberStackName, cfg)
	app.Synth(nil)
	return nil
}

func isRuntimeError(err error) bool {
	var re runtime.Error
	return errors.As(err, &re)
}
