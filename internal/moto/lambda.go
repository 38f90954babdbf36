package moto

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Function creates a Lambda function named name whose environment holds
// env, as the stack deploys the enforcer, so a test can read its
// configuration (GetFunctionConfiguration needs no Docker; invoking it
// would). moto refuses a function whose role IAM does not hold, so the role
// is created first.
func (s *Server) Function(ctx context.Context, cfg aws.Config, name string, env map[string]string) error {
	role, err := s.role(ctx, name+"-role")
	if err != nil {
		return err
	}
	var code bytes.Buffer
	zw := zip.NewWriter(&code)
	if _, err := zw.Create("bootstrap"); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if _, err := lambda.NewFromConfig(cfg).CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(role), Handler: aws.String("bootstrap"),
		Runtime: lambdatypes.RuntimeProvidedal2023, Code: &lambdatypes.FunctionCode{ZipFile: code.Bytes()},
		Environment: &lambdatypes.Environment{Variables: env},
	}); err != nil {
		return fmt.Errorf("create function %s: %w", name, err)
	}
	return nil
}

// role creates an IAM role and returns its ARN. It is a raw Query request
// rather than an IAM client, which the module does not otherwise need:
// moto routes it by the service named in the Authorization header's scope
// and does not check the signature.
func (s *Server) role(ctx context.Context, name string) (string, error) {
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/"+Region+"/iam/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create role %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("create role %s: %s: %s", name, resp.Status, body)
	}
	return "arn:aws:iam::" + AccountID + ":role/" + name, nil
}
