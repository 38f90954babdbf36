// Package selfinvoke lets the function hand unfinished work to a fresh
// invocation of itself: a fleet-wide re-enforcement started by an event has
// no operator to resume it with the continuation token.
package selfinvoke

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Invoker is the Lambda call this package makes.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Continuer invokes one function asynchronously.
type Continuer struct {
	Lambda       Invoker
	FunctionName string
}

// Continue queues payload for an asynchronous invocation; Lambda's async
// retries and the function's on-failure destination then cover it like any
// event.
func (c *Continuer) Continue(ctx context.Context, payload []byte) error {
	if c.FunctionName == "" {
		return fmt.Errorf("continue: no function name to invoke (AWS_LAMBDA_FUNCTION_NAME is unset outside Lambda)")
	}
	out, err := c.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(c.FunctionName),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("continue: invoke %s: %w", c.FunctionName, err)
	}
	if out.StatusCode != 202 {
		return fmt.Errorf("continue: invoke %s: status %d, want 202", c.FunctionName, out.StatusCode)
	}
	return nil
}
