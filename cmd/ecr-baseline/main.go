// Command ecr-baseline runs the enforcement engine from a workstation:
// `ecr-baseline backfill --dry-run` shows what the baseline would change.
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
