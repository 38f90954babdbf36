// Package enforcer brings one repository's policy in line with the baseline.
package enforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

// ECR is the part of the ECR API the enforcer calls.
type ECR interface {
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
}

// Baseline supplies the baseline policy template.
type Baseline interface {
	Template(ctx context.Context) (string, error)
}

// Action is what enforcement did to a repository.
type Action string

// Actions, as logged under the "action" key.
const (
	Applied     Action = "applied"
	WouldApply  Action = "would-apply"
	Unchanged   Action = "unchanged"
	Skipped     Action = "skipped"
	ActionError Action = "failed"
)

// Result is the outcome for one repository.
type Result struct {
	Repository string `json:"repository"`
	Action     Action `json:"action"`
	Reason     string `json:"reason,omitempty"`
}

// Enforcer applies the baseline with the fewest calls: one read, and a write
// only when the stored policy differs from the rendered baseline.
type Enforcer struct {
	ECR      ECR
	Baseline Baseline
	// DryRun reports what would change and writes nothing.
	DryRun bool
	Logger *slog.Logger
}

// Enforce brings repo in line with the baseline. A repository that no longer
// exists is skipped, not an error. Errors wrap their cause, so callers can
// tell a bad baseline (policy.ErrInvalid) from an AWS failure.
func (e *Enforcer) Enforce(ctx context.Context, repo ecrevent.Repository) (Result, error) {
	res, err := e.enforce(ctx, repo)
	log := e.logger().With("repository", repo.Name, "registry_id", repo.RegistryID)
	if err != nil {
		res = Result{Repository: repo.Name, Action: ActionError, Reason: err.Error()}
		log.ErrorContext(ctx, "enforce failed", "action", res.Action, "error", err)
		return res, fmt.Errorf("enforce %s: %w", repo.Name, err)
	}
	log.InfoContext(ctx, "enforced", "action", res.Action, "reason", res.Reason, "dry_run", e.DryRun)
	return res, nil
}

func (e *Enforcer) enforce(ctx context.Context, repo ecrevent.Repository) (Result, error) {
	res := Result{Repository: repo.Name}
	tmpl, err := e.Baseline.Template(ctx)
	if err != nil {
		return res, err
	}
	arn := repo.ARN
	if arn == "" {
		arn = ecrevent.RepositoryARN(repo.Region, repo.RegistryID, repo.Name)
	}
	want, err := policy.Render(tmpl, policy.Vars{
		AccountID: repo.RegistryID, Region: repo.Region, RepositoryName: repo.Name, RepositoryARN: arn,
	})
	if err != nil {
		return res, err
	}
	wantDoc, err := policy.Validate(want)
	if err != nil {
		return res, fmt.Errorf("rendered baseline: %w", err)
	}

	current, err := e.ECR.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{
		RegistryId: optional(repo.RegistryID), RepositoryName: aws.String(repo.Name),
	})
	var noPolicy *types.RepositoryPolicyNotFoundException
	switch {
	case isRepoNotFound(err):
		res.Action, res.Reason = Skipped, "repository not found (deleted before enforcement)"
		return res, nil
	case errors.As(err, &noPolicy):
		res.Reason = "repository had no policy"
	case err != nil:
		return res, fmt.Errorf("get policy: %w", err)
	default:
		curDoc, perr := policy.Parse(aws.ToString(current.PolicyText))
		if perr == nil && policy.Equal(curDoc, wantDoc) {
			res.Action = Unchanged
			return res, nil
		}
		res.Reason = "policy differs from baseline"
		if perr != nil {
			res.Reason = "stored policy unreadable: " + perr.Error()
		}
	}

	if e.DryRun {
		res.Action = WouldApply
		return res, nil
	}
	_, err = e.ECR.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{
		RegistryId: optional(repo.RegistryID), RepositoryName: aws.String(repo.Name), PolicyText: aws.String(want),
	})
	if isRepoNotFound(err) {
		res.Action, res.Reason = Skipped, "repository not found (deleted before enforcement)"
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("set policy: %w", err)
	}
	res.Action = Applied
	return res, nil
}

func (e *Enforcer) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

func isRepoNotFound(err error) bool {
	var nf *types.RepositoryNotFoundException
	return errors.As(err, &nf)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
