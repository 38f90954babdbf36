// Command infra is the CDK app of ecr-baseline: `cdk synth` and `cdk deploy`
// run it (see cdk.json). It reads its settings from the CDK context and
// deploys one stack holding the ecrbaseline.Enforcer construct; in
// organisation mode it also synthesizes the member stack
// (docs/organization.md).
package main

import (
	"fmt"
	"os"

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

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	if _, err := NewStack(app, StackName, &StackProps{Config: cfg}); err != nil {
		return err
	}
	if _, err := NewMemberStack(app, MemberStackName, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
