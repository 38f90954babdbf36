package cli

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/ecr-baseline/ecr-baseline/pkg/outputs"
)

// stackDescriber is the one CloudFormation call --stack makes.
type stackDescriber interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var _ stackDescriber = (*cloudformation.Client)(nil)

// stackFunction finds the enforcer function of the deployed stack name
// from the output the construct adds, so an operator names the stack they
// deployed rather than the function name CloudFormation generated.
func stackFunction(ctx context.Context, client stackDescriber, name string) (string, error) {
	out, err := client.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("--stack %s: %w", name, err)
	}
	if len(out.Stacks) != 1 {
		return "", fmt.Errorf("--stack %s: CloudFormation described %d stacks, want 1", name, len(out.Stacks))
	}
	outs := make([]outputs.Output, len(out.Stacks[0].Outputs))
	for i, o := range out.Stacks[0].Outputs {
		outs[i] = outputs.Output{Key: aws.ToString(o.OutputKey), Value: aws.ToString(o.OutputValue), Description: aws.ToString(o.Description)}
	}
	fn, err := outputs.Find(name, outs, outputs.FunctionName)
	if err != nil {
		return "", fmt.Errorf("--stack: %w (or give --function)", err)
	}
	return fn, nil
}
