package baseline

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

func TestLoaderOnMoto(t *testing.T) {
	ctx := context.Background()
	counter := &moto.Counter{}
	cfg, err := server.Config(ctx, counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	client := ssm.NewFromConfig(cfg)
	tests := []struct {
		name    string
		typ     types.ParameterType
		wantErr error
	}{
		{"/ecr-baseline/plain", types.ParameterTypeString, nil},
		{"/ecr-baseline/secure", types.ParameterTypeSecureString, nil},
		{"/ecr-baseline/absent", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.typ != "" {
				if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{
					Name: aws.String(tt.name), Type: tt.typ, Value: aws.String(valid), Overwrite: aws.Bool(true),
				}); err != nil {
					t.Fatal(err)
				}
			}
			counter.Reset()
			l := NewLoader(client, tt.name, time.Hour)
			for range 3 {
				got, err := l.Template(ctx)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Template error = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == nil && got != valid {
					t.Fatalf("Template = %q, want the stored policy (decrypted)", got)
				}
			}
			want := 1
			if tt.wantErr != nil {
				want = 3 // failures are retried on the next call, never cached
			}
			if n := counter.Count("GetParameter"); n != want {
				t.Errorf("GetParameter calls = %d, want %d", n, want)
			}
		})
	}
}
