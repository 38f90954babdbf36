// Package app wires the enforcer, backfill and handler from one
// configuration, so the Lambda and the local CLI run the same engine.
package app

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ecr-baseline/ecr-baseline/pkg/backfill"
	"github.com/ecr-baseline/ecr-baseline/pkg/baseline"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
	"github.com/ecr-baseline/ecr-baseline/pkg/ratelimit"
)

// StopBefore is how long before a Lambda deadline a backfill stops starting
// repositories: one enforcement, SDK retries included, fits well inside it.
const StopBefore = 30 * time.Second

// App is everything built from one configuration.
type App struct {
	Backfill *backfill.Runner
	Handler  *handler.Handler
}

// New builds the engine. One rate-limited ECR client is shared by event
// handling and backfill, so a container never exceeds the configured pace.
func New(cfg envconfig.Config, awsCfg aws.Config, logger *slog.Logger) *App {
	client := ratelimit.New(ecr.NewFromConfig(awsCfg), cfg.ReadTPS, cfg.WriteTPS)
	loader := baseline.NewLoader(ssm.NewFromConfig(awsCfg), cfg.ParameterName, cfg.CacheTTL)
	live := &enforcer.Enforcer{ECR: client, Baseline: loader, DryRun: cfg.DryRun, Logger: logger}
	dry := &enforcer.Enforcer{ECR: client, Baseline: loader, DryRun: true, Logger: logger}
	runner := &backfill.Runner{
		ECR: client, Enforcer: live, DryRunEnforcer: dry,
		Region: awsCfg.Region, Concurrency: cfg.Concurrency,
	}
	return &App{
		Backfill: runner,
		Handler:  &handler.Handler{Enforcer: live, Backfill: runner, StopBefore: StopBefore, Logger: logger},
	}
}
