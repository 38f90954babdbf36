package baseline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

const valid = `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`

type fakeSSM func(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)

func (f fakeSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return f(ctx, in, opts...)
}

func value(v string) fakeSSM {
	return func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(v)}}, nil
	}
}

func failing(err error) fakeSSM {
	return func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		return nil, err
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name    string
		ssm     fakeSSM
		wantIs  error
		wantMsg string
	}{
		{"missing parameter", failing(&types.ParameterNotFound{Message: aws.String("nope")}), ErrNotFound, "load baseline /b: baseline parameter not found"},
		{"access denied", failing(errors.New("AccessDeniedException: no")), nil, "load baseline /b: AccessDeniedException: no"},
		{"invalid JSON", value(`{"Version":`), policy.ErrInvalid, "load baseline /b: invalid repository policy: baseline is not valid JSON: unexpected EOF"},
		{"invalid policy", value(`{"Version":"2012-10-17","Statement":[]}`), policy.ErrInvalid, "policy needs at least one statement"},
		{"too large", value(`{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("s", 10300) + `","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`), policy.ErrInvalid, "ECR accepts at most 10240"},
		{"no value", func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
			return &ssm.GetParameterOutput{}, nil
		}, nil, "load baseline /b: parameter has no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLoader(tt.ssm, "/b", time.Minute).Template(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

func TestTemplateCachesForTTL(t *testing.T) {
	calls := 0
	current := valid
	fake := fakeSSM(func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		calls++
		if !aws.ToBool(in.WithDecryption) {
			t.Error("GetParameter without WithDecryption: SecureString would come back encrypted")
		}
		return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(current)}}, nil
	})
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := NewLoader(fake, "/b", time.Minute)
	l.now = func() time.Time { return now }

	updated := strings.Replace(valid, "Pull", "Pull2", 1)
	steps := []struct {
		advance   time.Duration
		stored    string
		want      string
		wantCalls int
	}{
		{0, valid, valid, 1},
		{30 * time.Second, updated, valid, 1}, // cached: the update is not seen yet
		{31 * time.Second, updated, updated, 2},
		{59 * time.Second, valid, updated, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		current = s.stored
		got, err := l.Template(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want || calls != s.wantCalls {
			t.Errorf("step %d: got %q after %d calls, want %q after %d", i, got, calls, s.want, s.wantCalls)
		}
	}
}

func TestFailedReadIsNotCached(t *testing.T) {
	calls := 0
	fake := fakeSSM(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("ThrottlingException")
		}
		return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(valid)}}, nil
	})
	l := NewLoader(fake, "/b", time.Hour)
	if _, err := l.Template(context.Background()); err == nil {
		t.Fatal("first read: want error")
	}
	if got, err := l.Template(context.Background()); err != nil || got != valid {
		t.Fatalf("second read = %q, %v; want the value", got, err)
	}
}
