// Package fleet seeds moto with the baseline and repositories and reads
// back, from moto itself, which repositories hold the baseline: the ground
// truth that fault and delivery tests compare a run's report with.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
	"github.com/ecr-baseline/ecr-baseline/internal/pool"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// Parameter is the baseline parameter the tests configure.
const Parameter = "/ecr-baseline/baseline-policy"

// Repo is a repository to create, with the policy it starts with ("" for
// none).
type Repo struct {
	Name   string
	Policy string
}

// Fleet talks to moto directly, never through a fault proxy.
type Fleet struct {
	ECR *ecr.Client
	SSM *ssm.Client
	// Template is the baseline template Seed stores.
	Template string
}

// New returns a fleet on cfg, which must point at moto itself.
func New(cfg aws.Config, template string) *Fleet {
	return &Fleet{ECR: ecr.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg), Template: template}
}

// Seed stores the baseline template and creates repos, eight at a time,
// in a moto the caller has just reset.
func (f *Fleet) Seed(ctx context.Context, repos ...Repo) error {
	if _, err := f.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(Parameter), Type: ssmtypes.ParameterTypeString, Value: aws.String(f.Template), Overwrite: aws.Bool(true),
	}); err != nil {
		return fmt.Errorf("seed baseline: %w", err)
	}
	return each(repos, func(r Repo) error { return f.create(ctx, r) })
}

// each calls fn for every item, eight at a time (moto answers one call in
// tens of milliseconds), and joins the errors.
func each[T any](items []T, fn func(T) error) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	pool.Run(items, 8, nil, func(_ int, item T) {
		if err := fn(item); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

func (f *Fleet) create(ctx context.Context, r Repo) error {
	_, err := f.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(r.Name)})
	// moto is reset before each seed, so "already exists" means the SDK
	// retried a create whose first attempt landed but whose answer was
	// lost (seen in CI: a keep-alive connection closed under load).
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("seed %s: %w", r.Name, err)
	}
	if r.Policy == "" {
		return nil
	}
	if _, err := f.ECR.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String(r.Name), PolicyText: aws.String(r.Policy),
	}); err != nil {
		return fmt.Errorf("seed %s policy: %w", r.Name, err)
	}
	return nil
}

// Rendered is the baseline rendered for a repository in moto's account
// and region.
func (f *Fleet) Rendered(name string) (string, error) {
	return policy.Render(f.Template, policy.Vars{AccountID: moto.AccountID, Region: moto.Region, RepositoryName: name})
}

// Policy is the policy moto holds for a repository, "" when it has none.
func (f *Fleet) Policy(ctx context.Context, name string) (string, error) {
	out, err := f.ECR.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var none *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &none) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", name, err)
	}
	return aws.ToString(out.PolicyText), nil
}

// Held is what moto holds for one repository.
type Held struct {
	// Policy is the stored policy text, "" for none.
	Policy string
	// Compliant is true when it means the same as the rendered baseline.
	Compliant bool
}

// ReadBack reads every named repository's policy from moto.
func (f *Fleet) ReadBack(ctx context.Context, names []string) (map[string]Held, error) {
	var mu sync.Mutex
	out := make(map[string]Held, len(names))
	err := each(names, func(name string) error {
		text, err := f.Policy(ctx, name)
		if err != nil {
			return err
		}
		ok, err := f.compliant(name, text)
		if err != nil {
			return err
		}
		mu.Lock()
		out[name] = Held{Policy: text, Compliant: ok}
		mu.Unlock()
		return nil
	})
	return out, err
}

// Compliant reports whether moto holds a policy for the repository that
// means the same as the rendered baseline.
func (f *Fleet) Compliant(ctx context.Context, name string) (bool, error) {
	text, err := f.Policy(ctx, name)
	if err != nil {
		return false, err
	}
	return f.compliant(name, text)
}

func (f *Fleet) compliant(name, text string) (bool, error) {
	return f.Holds(text, moto.AccountID, moto.Region, name)
}

// Holds reports whether text, a policy read from repository name in
// account and region ("" for none), means the same as the baseline
// rendered for it: in a member account of an organisation too.
func (f *Fleet) Holds(text, account, region, name string) (bool, error) {
	if text == "" {
		return false, nil
	}
	want, err := policy.Render(f.Template, policy.Vars{AccountID: account, Region: region, RepositoryName: name})
	if err != nil {
		return false, err
	}
	got, err := policy.Parse(text)
	if err != nil {
		return false, nil
	}
	wantDoc, err := policy.Parse(want)
	if err != nil {
		return false, err
	}
	return policy.Equal(got, wantDoc), nil
}
