// Command ecr-baseline runs the enforcement engine from a workstation:
// `ecr-baseline check --function NAME` shows, with the deployed function's
// settings, what the baseline would change and exits 4 if anything would;
// `ecr-baseline -h` lists the commands.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/ecr-baseline/ecr-baseline/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
