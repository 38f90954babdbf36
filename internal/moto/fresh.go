package moto

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
)

// Fresh resets the server and returns a configuration for it, the start of
// a test that needs moto empty.
func (s *Server) Fresh(ctx context.Context, apiOptions ...func(*middleware.Stack) error) (aws.Config, error) {
	if err := s.Reset(); err != nil {
		return aws.Config{}, err
	}
	return s.Config(ctx, apiOptions...)
}
