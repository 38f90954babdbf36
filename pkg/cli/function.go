package cli

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/ecr-baseline/ecr-baseline/pkg/envconfig"
)

// functionConfig is the one Lambda call --function makes.
type functionConfig interface {
	GetFunctionConfiguration(ctx context.Context, in *lambda.GetFunctionConfigurationInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
}

var _ functionConfig = (*lambda.Client)(nil)

// readFunction reads the configuration of the deployed function name (a
// name or an ARN): its environment variables, which the stack set from
// the settings table, as a Source, and the configuration the function
// resolves from them — refused, naming the variable, where the function
// would refuse it.
func readFunction(ctx context.Context, client functionConfig, name string) (envconfig.Source, envconfig.Config, error) {
	out, err := client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		return nil, envconfig.Config{}, fmt.Errorf("--function %s: %w", name, err)
	}
	vars := map[string]string{}
	if out.Environment != nil {
		vars = out.Environment.Variables
	}
	src := functionSource(name, vars)
	cfg, _, err := envconfig.Resolve(src)
	if err != nil {
		return nil, envconfig.Config{}, fmt.Errorf("--function %s: %w", name, err)
	}
	return src, cfg, nil
}

// functionSource gives the settings from the function's variables, each
// named as the variable of that function, so a message names where the
// value was read. A variable the function lacks is not given: with no
// source after it, the setting takes its default, as in the function.
func functionSource(name string, vars map[string]string) envconfig.Source {
	env := envconfig.Environment(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	return func(s *envconfig.Setting) (string, string, bool) {
		text, _, ok := env(s)
		return text, fromFunction(name, s), ok
	}
}

// fromFunction is how a setting read from the function is named: in a
// message, "ENFORCEMENT_MODE of function NAME must be ...".
func fromFunction(name string, s *envconfig.Setting) string {
	return s.Env + " of function " + name
}
