// Command enforcer is the ecr-baseline Lambda: it applies the baseline
// repository policy from SSM to the repositories named by ECR events.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ecr-baseline/ecr-baseline/pkg/baseline"
	"github.com/ecr-baseline/ecr-baseline/pkg/enforcer"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/handler"
)

func main() {
	logger := lambdacontext.NewLogger()
	cfg, err := envconfig.Load(os.LookupEnv)
	if err != nil {
		fail(logger, "invalid configuration", err)
	}
	// LoadDefaultConfig honours AWS_ENDPOINT_URL, so the same binary runs
	// against moto server in tests and the demo.
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(logger, "load AWS configuration", err)
	}
	h := &handler.Handler{
		Logger: logger,
		Enforcer: &enforcer.Enforcer{
			ECR:      ecr.NewFromConfig(awsCfg),
			Baseline: baseline.NewLoader(ssm.NewFromConfig(awsCfg), cfg.ParameterName, cfg.CacheTTL),
			DryRun:   cfg.DryRun,
			Logger:   logger,
		},
	}
	lambda.Start(h.Handle)
}

func fail(logger *slog.Logger, msg string, err error) {
	logger.Error(msg, "error", err)
	os.Exit(1)
}
