package moto

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 returns an S3 client for moto. The SDK addresses a bucket on an IP
// endpoint by path on its own; what moto lacks is the checksum of a stored
// object, and validating it "when supported" logs a line per read.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}
