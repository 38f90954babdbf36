// Command enforcer is the ecr-baseline Lambda: it applies the baseline
// repository policy from SSM to the repositories named by ECR events, and
// to every repository of a sweep, which it queues and consumes on SQS.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ecr-baseline/ecr-baseline/pkg/app"
	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
	"github.com/ecr-baseline/ecr-baseline/pkg/metrics"
)

func main() {
	logger := lambdacontext.NewLogger()
	cfg, err := envconfig.Load(os.LookupEnv)
	if err != nil {
		fail(logger, "invalid configuration", err)
	}
	if err := app.CheckFunction(cfg); err != nil {
		fail(logger, "invalid configuration", err)
	}
	awsCfg, err := awsconfig.Load(context.Background())
	if err != nil {
		fail(logger, "load AWS configuration", err)
	}
	h := app.New(cfg, awsCfg, logger).Handler
	h.Metrics = metrics.New(os.Stdout, cfg.FunctionName)
	lambda.Start(h.Handle)
}

func fail(logger *slog.Logger, msg string, err error) {
	logger.Error(msg, "error", err)
	os.Exit(1)
}
