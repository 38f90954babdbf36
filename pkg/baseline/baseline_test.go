package baseline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

const valid = `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":"ecr:BatchGetImage"}]}`

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
			_, _, err := NewLoader(tt.ssm, "/b", time.Minute, policy.Guard{}).Template(context.Background())
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
	l := NewLoader(fake, "/b", time.Minute, policy.Guard{})
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
		got, _, err := l.Template(context.Background())
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
	l := NewLoader(fake, "/b", time.Hour, policy.Guard{})
	if _, _, err := l.Template(context.Background()); err == nil {
		t.Fatal("first read: want error")
	}
	if got, _, err := l.Template(context.Background()); err != nil || got != valid {
		t.Fatalf("second read = %q, %v; want the value", got, err)
	}
}

// TestLoadReloadsOlderVersion is a sweep item landing in a warm
// container: its cache is fresh by TTL but older than the version the
// sweep started with, so it reads SSM once; an item without a version, or
// with one the cache already holds, reads nothing.
func TestLoadReloadsOlderVersion(t *testing.T) {
	calls := 0
	stored := struct {
		value   string
		version int64
	}{valid, 1}
	fake := fakeSSM(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		calls++
		return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(stored.value), Version: stored.version}}, nil
	})
	l := NewLoader(fake, "/b", time.Hour, policy.Guard{})
	updated := strings.Replace(valid, "Pull", "Pull2", 1)
	steps := []struct {
		name        string
		change      bool
		minVersion  int64
		wantVersion int64
		wantCalls   int
		want        string
	}{
		{"cold container", false, 0, 1, 1, valid},
		{"baseline changed, no version asked: cache kept for the TTL", true, 0, 1, 1, valid},
		{"continuation of the run with version 2", false, 2, 2, 2, updated},
		{"next continuation: cache holds version 2", false, 2, 2, 2, updated},
		{"an older run's continuation: cache is newer", false, 1, 2, 2, updated},
	}
	for _, s := range steps {
		if s.change {
			stored.value, stored.version = updated, 2
		}
		v, err := l.Load(context.Background(), s.minVersion)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, _, _ := l.Template(context.Background())
		if v != s.wantVersion || calls != s.wantCalls || got != s.want {
			t.Errorf("%s: version %d after %d calls, template %q; want version %d after %d, %q", s.name, v, calls, got, s.wantVersion, s.wantCalls, s.want)
		}
	}
	// SSM still shows version 2 while the run asks for 3: the change is
	// not visible yet, so the invocation fails for Lambda to retry.
	if _, err := l.Load(context.Background(), 3); err == nil || err.Error() != "load baseline /b: SSM returned version 2, older than version 3 this run was started with" {
		t.Errorf("Load(3) error = %v", err)
	}
}

// TestLoadFresh judges an own write: a cache younger than maxAge is used,
// an older one is read again although the TTL still holds it.
func TestLoadFresh(t *testing.T) {
	calls := 0
	fake := fakeSSM(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		calls++
		return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(valid)}}, nil
	})
	l := NewLoader(fake, "/b", time.Hour, policy.Guard{})
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance   time.Duration
		maxAge    time.Duration
		wantCalls int
	}{
		{0, 10 * time.Second, 1},               // cold
		{5 * time.Second, 10 * time.Second, 1}, // younger than maxAge
		{6 * time.Second, 10 * time.Second, 2}, // 11 s old: read again, though the TTL is an hour
		{0, 0, 3},                              // maxAge 0 always reads
		{time.Minute, 2 * time.Hour, 3},        // maxAge above the TTL: the TTL decides
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if err := l.LoadFresh(context.Background(), s.maxAge); err != nil {
			t.Fatal(err)
		}
		if calls != s.wantCalls {
			t.Errorf("step %d: %d reads, want %d", i, calls, s.wantCalls)
		}
	}
}

// TestGuardrailsAtLoad shows each kind of harmful baseline refused when it
// is loaded, before any repository is read, with the guard the loader was
// built with; a refused value is not cached, so the corrected parameter is
// used on the next call.
func TestGuardrailsAtLoad(t *testing.T) {
	const self = "arn:aws:iam::111122223333:role/EcrBaseline-EnforcerRole"
	guard := policy.Guard{AccountID: "111122223333", Region: "eu-west-1", SelfRoleARN: self}
	listed := guard
	listed.AllowedPrincipals = []string{"444455556666"}
	forced := guard
	forced.Force = true
	doc := func(statement string) string {
		return `{"Version":"2012-10-17","Statement":[` + statement + `]}`
	}
	const (
		public     = `{"Sid":"Open","Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:*"}`
		foreign    = `{"Sid":"Push","Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:PutImage"}`
		noReads    = `{"Sid":"NoReads","Effect":"Deny","Principal":"*","Action":"ecr:ListTagsForResource"}`
		otherRole  = `{"Sid":"NoCI","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::${AccountId}:role/ci"},"Action":"ecr:*"}`
		collision  = `{"Sid":"Tag","Effect":"Deny","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:ResourceTag/${AccountId}":"a","aws:ResourceTag/111122223333":"b"}}}`
		typo       = `{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountID}:root"},"Action":"ecr:BatchGetImage"}`
		publicWant = `load baseline /b: baseline would grant access outside this account: statement "Open": Allow to {"AWS":["*"]} would make every repository public; scope it with a StringEquals aws:PrincipalOrgID condition on an organization in allowedPrincipals, or set allowPublic`
	)
	tests := []struct {
		name     string
		guard    policy.Guard
		template string
		wantIs   error
		want     string
	}{
		{"public", guard, doc(public), policy.ErrExposes, publicWant},
		{"another account", guard, doc(foreign), policy.ErrExposes,
			`load baseline /b: baseline would grant access outside this account: statement "Push": Allow to 444455556666, outside this account; add the account IDs to allowedPrincipals to grant them`},
		{"another account, listed", listed, doc(foreign), nil, ""},
		{"lock-out of a read", guard, doc(noReads), policy.ErrLockOut,
			`load baseline /b: policy would lock this account out of setting the repository policy: statement "NoReads": Deny ecr:listtagsforresource for "*" without a Condition would stop this account from calling ecr:ListTagsForResource; set force to apply it anyway`},
		{"lock-out, forced", forced, doc(noReads), nil, ""},
		{"Deny on another role", guard, doc(otherRole), nil, ""},
		{"key collision in this account", guard, doc(collision), policy.ErrInvalid,
			`load baseline /b: baseline rendered for this account: invalid repository policy: keys "aws:ResourceTag/${AccountId}" and "aws:ResourceTag/111122223333" are the same once rendered`},
		{"unknown variable", guard, doc(typo), policy.ErrInvalid,
			`load baseline /b: invalid repository policy: unknown variable ${AccountID} at /Statement/0/Principal/AWS (known: ${AccountId}, ${Region}, ${RepositoryName}, ${RepositoryArn} and IAM's ${aws:...})`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := tt.template
			l := NewLoader(fakeSSM(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
				return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(stored)}}, nil
			}), "/b", time.Hour, tt.guard)
			text, _, err := l.Template(context.Background())
			if tt.want == "" {
				if err != nil || text != tt.template {
					t.Fatalf("Template = %q, %v; want the stored baseline", text, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Template = %q; want %s", text, tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Fatalf("Template error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("Template error = %v, want errors.Is %v", err, tt.wantIs)
			}
			stored = valid
			if got, _, err := l.Template(context.Background()); err != nil || got != valid {
				t.Errorf("after the fix: Template = %q, %v; want the corrected baseline", got, err)
			}
		})
	}
}

// TestFile loads templates from files through the same checks as from the
// parameter: a valid file, a guardrail refusal, a missing file.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	public := strings.Replace(valid, `{"AWS":"arn:aws:iam::${AccountId}:root"}`, `"*"`, 1)
	tests := []struct {
		name, path, want, wantErr string
	}{
		{"valid", write("valid.json", valid+"\n"), valid + "\n", ""},
		{"refused by a guardrail", write("public.json", public), "", "would make every repository public"},
		{"missing", filepath.Join(dir, "none.json"), "", "load baseline " + filepath.Join(dir, "none.json") + ": open " + filepath.Join(dir, "none.json") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, version, err := NewLoader(File{}, tt.path, 0, policy.Guard{}).Template(context.Background())
			if tt.wantErr == "" && (err != nil || got != tt.want || version != 0) {
				t.Fatalf("Template = %q, %d, %v; want %q, 0", got, version, err, tt.want)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
