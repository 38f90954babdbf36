package baseline

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
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
			l := NewLoader(client, tt.name, time.Hour, policy.Guard{})
			for range 3 {
				got, _, err := l.Template(ctx)
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

// TestLoadVersionOnMoto proves SSM's Version reaches the loader: a warm
// loader holding version 1 reloads with one GetParameter when asked for
// the version a PutParameter with Overwrite made.
func TestLoadVersionOnMoto(t *testing.T) {
	ctx := context.Background()
	counter := &moto.Counter{}
	cfg, err := server.Config(ctx, counter.Middleware)
	if err != nil {
		t.Fatal(err)
	}
	client := ssm.NewFromConfig(cfg)
	put := func(value string) int64 {
		t.Helper()
		out, err := client.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String("/ecr-baseline/versioned"), Type: types.ParameterTypeString, Value: aws.String(value), Overwrite: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Version
	}
	first := put(valid)
	l := NewLoader(client, "/ecr-baseline/versioned", time.Hour, policy.Guard{})
	if v, err := l.Load(ctx, 0); err != nil || v != first {
		t.Fatalf("Load = %d, %v; want version %d", v, err, first)
	}
	updated := strings.Replace(valid, "Pull", "Pull2", 1)
	second := put(updated)
	if second <= first {
		t.Fatalf("moto versions %d then %d; want them to rise", first, second)
	}
	counter.Reset()
	if v, err := l.Load(ctx, second); err != nil || v != second {
		t.Fatalf("Load(%d) = %d, %v", second, v, err)
	}
	if got, v, err := l.Template(ctx); err != nil || got != updated || v != second {
		t.Errorf("Template = %q, %d, %v; want the updated baseline at version %d", got, v, err, second)
	}
	if n := counter.Count("GetParameter"); n != 1 {
		t.Errorf("GetParameter calls = %d, want 1", n)
	}
}
