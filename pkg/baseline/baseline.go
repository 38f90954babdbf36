// Package baseline loads the baseline policy template from SSM Parameter
// Store and keeps it for a warm Lambda container.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// ErrNotFound is returned when the baseline parameter does not exist.
var ErrNotFound = errors.New("baseline parameter not found")

// ParameterGetter is the one SSM call the loader makes.
type ParameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Loader reads the baseline template from one SSM parameter and caches it
// for TTL. SSM GetParameter shares 40 TPS per account and region by
// default, so a warm container must not read it per repository.
type Loader struct {
	ssm    ParameterGetter
	name   string
	ttl    time.Duration
	checks []func(string) error
	now    func() time.Time

	mu      sync.Mutex
	value   string
	fetched time.Time
}

// NewLoader returns a loader for the named parameter. A ttl of zero reads
// the parameter on every call. checks run after policy.CheckTemplate, such
// as policy.RequireSids in merge mode.
func NewLoader(client ParameterGetter, name string, ttl time.Duration, checks ...func(string) error) *Loader {
	return &Loader{ssm: client, name: name, ttl: ttl, checks: checks, now: time.Now}
}

// Template returns the baseline template, checked with policy.CheckTemplate,
// from the cache while it is fresh and from SSM otherwise. A failed read is
// not cached, so the next call retries.
func (l *Loader) Template(ctx context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fetched.IsZero() && l.now().Sub(l.fetched) < l.ttl {
		return l.value, nil
	}
	out, err := l.ssm.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(l.name),
		WithDecryption: aws.Bool(true),
	})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return "", fmt.Errorf("load baseline %s: %w", l.name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("load baseline %s: %w", l.name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("load baseline %s: parameter has no value", l.name)
	}
	value := *out.Parameter.Value
	for _, check := range append([]func(string) error{policy.CheckTemplate}, l.checks...) {
		if err := check(value); err != nil {
			return "", fmt.Errorf("load baseline %s: %w", l.name, err)
		}
	}
	l.value, l.fetched = value, l.now()
	return value, nil
}

// Invalidate drops the cached template, so a baseline that just changed is
// used at once rather than after the TTL.
func (l *Loader) Invalidate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fetched = time.Time{}
}
