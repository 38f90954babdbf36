package selfinvoke

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

// request is what the stand-in Lambda API was asked.
type request struct {
	Method, Path, InvocationType, Payload string
}

func TestContinue(t *testing.T) {
	const payload = `{"action":"backfill","continuationToken":"abc","selfContinue":true}`
	invoked := request{Method: "POST", Path: "/2015-03-31/functions/ecr-baseline-enforcer/invocations", InvocationType: "Event", Payload: payload}
	tests := []struct {
		name      string
		function  string
		status    int
		errorType string
		want      []request
		wantErr   string
		wantAs    any
	}{
		{name: "queued", function: "ecr-baseline-enforcer", status: http.StatusAccepted, want: []request{invoked}},
		{name: "answered but not queued", function: "ecr-baseline-enforcer", status: http.StatusOK, want: []request{invoked},
			wantErr: "continue: invoke ecr-baseline-enforcer: status 200, want 202"},
		{name: "Lambda refuses", function: "ecr-baseline-enforcer", status: http.StatusTooManyRequests, errorType: "TooManyRequestsException",
			want: []request{invoked}, wantErr: "continue: invoke ecr-baseline-enforcer: operation error Lambda: Invoke", wantAs: new(*types.TooManyRequestsException)},
		{name: "outside Lambda", function: "", want: nil,
			wantErr: "continue: no function name to invoke (AWS_LAMBDA_FUNCTION_NAME is unset outside Lambda)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got = append(got, request{Method: r.Method, Path: r.URL.Path, InvocationType: r.Header.Get("X-Amz-Invocation-Type"), Payload: string(body)})
				if tt.errorType != "" {
					w.Header().Set("X-Amzn-Errortype", tt.errorType)
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, `{"message":"slow down"}`)
					return
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			client := lambda.New(lambda.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
			})
			c := &Continuer{Lambda: client, FunctionName: tt.function}
			err := c.Continue(context.Background(), []byte(payload))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q...", err, tt.wantErr)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("error %v is not a %T", err, tt.wantAs)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests to Lambda (-want +got):\n%s", diff)
			}
		})
	}
}
