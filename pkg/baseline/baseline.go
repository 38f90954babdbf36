// Package baseline loads the baseline policy template from SSM Parameter
// Store and keeps it for a warm Lambda container.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"os"
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
//
// It also keeps the parameter's Version, which SSM raises on every change:
// a sweep started by a change carries the version it read in every item,
// so an item that lands in another warm container can tell that
// container's cache is older than the sweep and reload it (Load).
type Loader struct {
	ssm    ParameterGetter
	name   string
	ttl    time.Duration
	guard  policy.Guard
	checks []func(string) error
	now    func() time.Time

	mu      sync.Mutex
	value   string
	version int64
	fetched time.Time
}

// NewLoader returns a loader for the named parameter. A ttl of zero reads
// the parameter on every call. Each value read must pass guard.Check (the
// zero Guard is the strictest) and then checks, such as policy.RequireSids
// in merge mode.
func NewLoader(client ParameterGetter, name string, ttl time.Duration, guard policy.Guard, checks ...func(string) error) *Loader {
	return &Loader{ssm: client, name: name, ttl: ttl, guard: guard, checks: checks, now: time.Now}
}

// Template returns the baseline template, checked as NewLoader says, from
// the cache while it is fresh and from SSM otherwise. A value that fails a
// check is an error before any repository is read: the guardrails run once
// per load, on the template rendered for this account and region, so a
// harmful baseline fails a sweep with nothing queued rather than each
// repository in turn. A failed read or check is not cached, so the next
// call retries. The version is the parameter's, read with the text, so
// naming it costs no SSM call.
func (l *Loader) Template(ctx context.Context) (string, int64, error) {
	return l.load(ctx, 0, l.ttl)
}

// Load makes sure the cache holds a valid baseline at least as new as
// minVersion and returns the version it holds. It reads SSM only when the
// cache is stale or older than minVersion, so with minVersion 0 it costs
// what Template costs. A parameter older than minVersion is an error: the
// change that started the run is not visible yet, and Lambda's retry will
// find it.
func (l *Loader) Load(ctx context.Context, minVersion int64) (int64, error) {
	_, version, err := l.load(ctx, minVersion, l.ttl)
	return version, err
}

// LoadFresh makes sure the cached baseline was read from SSM at most
// maxAge ago (0: read it now). Judging the function's own writes needs a
// baseline fresher than the TTL: a container that wrote a stale baseline
// would otherwise keep recognising that write as its own.
func (l *Loader) LoadFresh(ctx context.Context, maxAge time.Duration) error {
	_, _, err := l.load(ctx, 0, min(l.ttl, maxAge))
	return err
}

func (l *Loader) load(ctx context.Context, minVersion int64, maxAge time.Duration) (string, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fetched.IsZero() && l.now().Sub(l.fetched) < maxAge && l.version >= minVersion {
		return l.value, l.version, nil
	}
	out, err := l.ssm.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(l.name),
		WithDecryption: aws.Bool(true),
	})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return "", 0, fmt.Errorf("load baseline %s: %w", l.name, ErrNotFound)
	}
	if err != nil {
		return "", 0, fmt.Errorf("load baseline %s: %w", l.name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", 0, fmt.Errorf("load baseline %s: parameter has no value", l.name)
	}
	value, version := *out.Parameter.Value, out.Parameter.Version
	if version < minVersion {
		return "", 0, fmt.Errorf("load baseline %s: SSM returned version %d, older than version %d this run was started with", l.name, version, minVersion)
	}
	for _, check := range append([]func(string) error{l.guard.Check}, l.checks...) {
		if err := check(value); err != nil {
			return "", 0, fmt.Errorf("load baseline %s: %w", l.name, err)
		}
	}
	l.value, l.version, l.fetched = value, version, l.now()
	return value, version, nil
}

// Invalidate drops the cached template, so a baseline that just changed is
// used at once rather than after the TTL.
func (l *Loader) Invalidate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fetched = time.Time{}
}

// File stands in for SSM with local files, to preview a template before it
// is stored: a Loader over File checks a file exactly as it checks the
// parameter (guardrails, lint, the checks NewLoader was given). The
// parameter name is the file's path; the version is 0, as nothing is
// written from a preview.
type File struct{}

var _ ParameterGetter = File{}

// GetParameter reads the file named in.Name.
func (File) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	text, err := os.ReadFile(aws.ToString(in.Name))
	if err != nil {
		return nil, err
	}
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Name: in.Name, Value: aws.String(string(text))}}, nil
}
