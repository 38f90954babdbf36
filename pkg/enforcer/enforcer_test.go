package enforcer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
	"github.com/ecr-baseline/ecr-baseline/pkg/ecrevent"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
	"github.com/ecr-baseline/ecr-baseline/pkg/policydiff"
)

const tmpl = `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`

// The rendered tmpl for repo, as real ECR stores it: ECR reformats the text
// it is sent (indentation, " : ", reordered actions), as the API reference's
// GetRepositoryPolicy sample shows. moto stores text verbatim, so
// TestEnforceOnMoto seeds this reformatted sample to prove such a policy is
// read as compliant and not rewritten on every event.
const compliant = "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Pull\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::123456789012:root\"\n    },\n    \"Action\" : [ \"ecr:GetDownloadUrlForLayer\", \"ecr:BatchGetImage\" ]\n  } ]\n}"

const (
	lockOut    = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}`
	lockOutMsg = `policy would lock this account out of setting the repository policy: statement "DenyAll": Deny ecr:* for "*" without a Condition would stop this account from setting the policy again; set force to apply it anyway`
)

const (
	unmergeable      = "merge: stored repository policy cannot be merged: policy is not a JSON object: unexpected EOF; left as it is (fix the policy or use replace mode)"
	elsewhereRegion  = "repository is outside this function's region or account: it is in region eu-west-1, this function enforces us-east-1 (deploy ecr-baseline there)"
	elsewhereAccount = "repository is outside this function's region or account: it is in account 210987654321, this function enforces 123456789012 (deploy ecr-baseline there)"
)

var repo = ecrevent.Repository{RegistryID: "123456789012", Region: "us-east-1", Name: "team-a/web"}

type fakeECR struct {
	get    func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error)
	set    func(*ecr.SetRepositoryPolicyInput) (*ecr.SetRepositoryPolicyOutput, error)
	tags   map[string]string
	sets   []string
	forced []bool
}

func (f *fakeECR) ListTagsForResource(_ context.Context, in *ecr.ListTagsForResourceInput, _ ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error) {
	out := &ecr.ListTagsForResourceOutput{}
	for k, v := range f.tags {
		out.Tags = append(out.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out, nil
}

func (f *fakeECR) GetRepositoryPolicy(_ context.Context, in *ecr.GetRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	return f.get(in)
}

func (f *fakeECR) SetRepositoryPolicy(_ context.Context, in *ecr.SetRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	f.sets = append(f.sets, aws.ToString(in.PolicyText))
	f.forced = append(f.forced, in.Force)
	if f.set == nil {
		return &ecr.SetRepositoryPolicyOutput{}, nil
	}
	return f.set(in)
}

type fixedBaseline struct {
	text    string
	version int64
	err     error
}

func (b fixedBaseline) Template(context.Context) (string, int64, error) {
	return b.text, b.version, b.err
}

func stored(text string) func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error) {
	return func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error) {
		return &ecr.GetRepositoryPolicyOutput{PolicyText: aws.String(text)}, nil
	}
}

func getFails(err error) func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error) {
	return func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error) { return nil, err }
}

func TestEnforce(t *testing.T) {
	noPolicy := getFails(&types.RepositoryPolicyNotFoundException{Message: aws.String("none")})
	gone := &types.RepositoryNotFoundException{Message: aws.String("gone")}
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	server := &types.ServerException{Message: aws.String("internal")}
	tests := []struct {
		name       string
		baseline   fixedBaseline
		dryRun     bool
		mode       Mode
		force      bool
		exempt     Exemptions
		tags       map[string]string
		repo       *ecrevent.Repository // default repo
		wantPolicy string               // canonical form of the written policy, when set
		get        func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error)
		set        func(*ecr.SetRepositoryPolicyInput) (*ecr.SetRepositoryPolicyOutput, error)
		want       Result
		wantSets   int
		wantErrIs  error
		wantErrMsg string
	}{
		{name: "no policy", get: noPolicy, wantSets: 1,
			want: Result{Repository: "team-a/web", Action: Applied, Reason: "repository had no policy"}},
		{name: "compliant after ECR reformatting", get: stored(compliant),
			want: Result{Repository: "team-a/web", Action: Unchanged}},
		{name: "different policy", get: stored(strings.Replace(compliant, "BatchGetImage", "PutImage", 1)), wantSets: 1,
			want: Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline"}},
		{name: "unreadable stored policy", get: stored("{"), wantSets: 1,
			want: Result{Repository: "team-a/web", Action: Applied, Reason: "stored policy unreadable: policy is not a JSON object: unexpected EOF"}},
		{name: "dry run writes nothing", dryRun: true, get: noPolicy,
			want: Result{Repository: "team-a/web", Action: WouldApply, Reason: "repository had no policy"}},
		{name: "deleted before get", get: getFails(gone),
			want: Result{Repository: "team-a/web", Action: Skipped, Reason: "repository not found (deleted before enforcement)"}},
		{name: "deleted between get and set", get: noPolicy, wantSets: 1,
			set:  func(*ecr.SetRepositoryPolicyInput) (*ecr.SetRepositoryPolicyOutput, error) { return nil, gone },
			want: Result{Repository: "team-a/web", Action: Skipped, Reason: "repository not found (deleted before enforcement)"}},
		{name: "get throttled after SDK retries", get: getFails(throttled), wantErrMsg: "enforce team-a/web: get policy: api error ThrottlingException: Rate exceeded",
			want: Result{Repository: "team-a/web", Action: Failed, Reason: "get policy: api error ThrottlingException: Rate exceeded"}},
		{name: "set fails with 5xx", get: noPolicy, wantSets: 1, wantErrIs: server,
			set:        func(*ecr.SetRepositoryPolicyInput) (*ecr.SetRepositoryPolicyOutput, error) { return nil, server },
			wantErrMsg: "enforce team-a/web: set policy: ServerException: internal",
			want:       Result{Repository: "team-a/web", Action: Failed, Reason: "set policy: ServerException: internal"}},
		{name: "exempt by name pattern", exempt: Exemptions{Globs: []string{"sandbox/*", "team-a/*"}}, get: noPolicy,
			want: Result{Repository: "team-a/web", Action: Exempt, Reason: `name matches exemption pattern "team-a/*"`}},
		{name: "exempt by tag", exempt: Exemptions{TagKey: "ecr-baseline:exempt", TagValue: "true"}, tags: map[string]string{"ecr-baseline:exempt": "true"}, get: noPolicy,
			want: Result{Repository: "team-a/web", Action: Exempt, Reason: "tagged ecr-baseline:exempt=true"}},
		{name: "tag with another value is not exempt", exempt: Exemptions{TagKey: "ecr-baseline:exempt", TagValue: "true"}, tags: map[string]string{"ecr-baseline:exempt": "false"},
			get: noPolicy, wantSets: 1, want: Result{Repository: "team-a/web", Action: Applied, Reason: "repository had no policy"}},
		{name: "merge keeps foreign statements and replaces same Sid", mode: Merge, wantSets: 1,
			get:        stored(`{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Sid":"Pull","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`),
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]},{"Sid":"Team","Effect":"Allow","Principal":"*","Action":["ecr:putimage"]}]}`,
			want:       Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline"}},
		{name: "merge is compliant when the baseline statements are present", mode: Merge,
			get:  stored(`{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`),
			want: Result{Repository: "team-a/web", Action: Unchanged}},
		{name: "replace drops foreign statements", wantSets: 1,
			get:        stored(`{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`),
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]}]}`,
			want:       Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline"}},
		{name: "merge of an unreadable policy leaves it alone", mode: Merge, get: stored("{"),
			wantErrIs: policy.ErrUnmergeable, wantErrMsg: "enforce team-a/web: " + unmergeable,
			want: Result{Repository: "team-a/web", Action: Failed, Reason: unmergeable}},
		{name: "merge refuses a merged policy whose kept statements lock out", mode: Merge, get: stored(lockOut), wantErrIs: policy.ErrLockOut,
			wantErrMsg: "enforce team-a/web: merged policy: " + lockOutMsg,
			want:       Result{Repository: "team-a/web", Action: Failed, Reason: "merged policy: " + lockOutMsg}},
		{name: "merge with force writes it with force", mode: Merge, force: true, get: stored(lockOut), wantSets: 1,
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":["ecr:*"]},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]}]}`,
			want:       Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline"}},
		{name: "merge leaves a compliant lock-out alone: nothing to write", mode: Merge,
			get:  stored(`{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"ecr:*"},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`),
			want: Result{Repository: "team-a/web", Action: Unchanged}},
		{name: "another region is refused, not read as deleted", repo: &ecrevent.Repository{RegistryID: "123456789012", Region: "eu-west-1", Name: "team-a/web"},
			get: getFails(gone), wantErrIs: ErrElsewhere, wantErrMsg: "enforce team-a/web: " + elsewhereRegion,
			want: Result{Repository: "team-a/web", Action: Failed, Reason: elsewhereRegion}},
		{name: "another account is refused, not read as deleted", repo: &ecrevent.Repository{RegistryID: "210987654321", Region: "us-east-1", Name: "team-a/web"},
			get: getFails(gone), wantErrIs: ErrElsewhere, wantErrMsg: "enforce team-a/web: " + elsewhereAccount,
			want: Result{Repository: "team-a/web", Action: Failed, Reason: elsewhereAccount}},
		{name: "malformed exemption pattern fails instead of never matching", exempt: Exemptions{Globs: []string{"team-a/["}}, get: noPolicy,
			wantErrIs: path.ErrBadPattern, wantErrMsg: `enforce team-a/web: exemption pattern "team-a/[": syntax error in pattern`,
			want: Result{Repository: "team-a/web", Action: Failed, Reason: `exemption pattern "team-a/[": syntax error in pattern`}},
		{name: "lock-out guard refuses", baseline: fixedBaseline{text: lockOut}, get: noPolicy, wantErrIs: policy.ErrLockOut,
			wantErrMsg: "enforce team-a/web: rendered baseline: " + lockOutMsg,
			want:       Result{Repository: "team-a/web", Action: Failed, Reason: "rendered baseline: " + lockOutMsg}},
		{name: "force applies a lock-out baseline", baseline: fixedBaseline{text: lockOut}, force: true, get: noPolicy, wantSets: 1,
			want: Result{Repository: "team-a/web", Action: Applied, Reason: "repository had no policy"}},
		{name: "baseline unavailable", baseline: fixedBaseline{err: errors.New("load baseline /b: baseline parameter not found")}, get: noPolicy,
			wantErrMsg: "enforce team-a/web: load baseline /b: baseline parameter not found",
			want:       Result{Repository: "team-a/web", Action: Failed, Reason: "load baseline /b: baseline parameter not found"}},
		{name: "rendered baseline invalid", baseline: fixedBaseline{text: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*"}]}`}, get: noPolicy,
			wantErrIs: policy.ErrInvalid, wantErrMsg: `enforce team-a/web: rendered baseline: invalid repository policy: statement 1: action "s3:*" is not an ecr: action`,
			want: Result{Repository: "team-a/web", Action: Failed, Reason: `rendered baseline: invalid repository policy: statement 1: action "s3:*" is not an ecr: action`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.baseline == (fixedBaseline{}) {
				tt.baseline = fixedBaseline{text: tmpl}
			}
			f := &fakeECR{get: tt.get, set: tt.set, tags: tt.tags}
			e := &Enforcer{ECR: f, Baseline: tt.baseline, DryRun: tt.dryRun, Mode: tt.mode, Force: tt.force, Exempt: tt.exempt,
				Region: "us-east-1", AccountID: "123456789012", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			target := repo
			if tt.repo != nil {
				target = *tt.repo
			}
			got, err := e.Enforce(context.Background(), target)
			if tt.wantErrMsg == "" && err != nil {
				t.Fatalf("Enforce: %v", err)
			}
			if tt.wantErrMsg != "" && (err == nil || err.Error() != tt.wantErrMsg) {
				t.Fatalf("Enforce error = %v, want %q", err, tt.wantErrMsg)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Errorf("error %v is not %v", err, tt.wantErrIs)
			}
			// TestEnforceArchivesAndDiffs checks the diff; this table
			// checks the decision.
			got.Diff = policydiff.Diff{}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if len(f.sets) != tt.wantSets {
				t.Errorf("SetRepositoryPolicy calls = %d, want %d", len(f.sets), tt.wantSets)
			}
			for i, s := range f.sets {
				if !strings.Contains(s, "arn:aws:iam::123456789012:root") && !strings.Contains(s, `"Deny"`) {
					t.Errorf("written policy not rendered for the account: %s", s)
				}
				if f.forced[i] != tt.force {
					t.Errorf("SetRepositoryPolicy force = %v, want %v", f.forced[i], tt.force)
				}
				if tt.wantPolicy != "" {
					doc, err := policy.Parse(s)
					if err != nil {
						t.Fatal(err)
					}
					if got := string(doc.Canonical()); got != tt.wantPolicy {
						t.Errorf("written policy\n%s\nwant\n%s", got, tt.wantPolicy)
					}
				}
			}
		})
	}
}

func TestCarries(t *testing.T) {
	baseline := `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	withTeam := `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	older := strings.Replace(baseline, `"ecr:BatchGetImage",`, "", 1)
	tests := []struct {
		name    string
		mode    Mode
		written string
		want    bool
	}{
		{"replace: the rendered baseline", Replace, baseline, true},
		{"replace: the baseline reformatted by ECR", Replace, compliant, true},
		{"replace: an older baseline", Replace, older, false},
		{"replace: baseline plus a team statement", Replace, withTeam, false},
		{"merge: baseline plus a team statement", Merge, withTeam, true},
		{"merge: an older baseline statement", Merge, strings.Replace(withTeam, `"ecr:BatchGetImage",`, "", 1), false},
		{"unreadable", Replace, "{", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fakeECR without get panics if called: Carries calls no ECR API.
			e := &Enforcer{ECR: &fakeECR{}, Baseline: fixedBaseline{text: tmpl}, Mode: tt.mode}
			got, err := e.Carries(context.Background(), repo, tt.written)
			if err != nil || got != tt.want {
				t.Errorf("Carries = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	e := &Enforcer{ECR: &fakeECR{}, Baseline: fixedBaseline{err: errors.New("load baseline /b: baseline parameter not found")}}
	if _, err := e.Carries(context.Background(), repo, compliant); err == nil || err.Error() != "check own write to team-a/web: load baseline /b: baseline parameter not found" {
		t.Errorf("Carries without a baseline: error %v", err)
	}
}

// fakeArchive records each Put, or fails them all with err.
type fakeArchive struct {
	puts []archive.Record
	err  error
}

func (a *fakeArchive) Put(_ context.Context, rec archive.Record) (archive.Record, error) {
	if a.err != nil {
		return rec, a.err
	}
	rec.Key = "123456789012/us-east-1/" + rec.Repository + "@k"
	a.puts = append(a.puts, rec)
	return rec, nil
}

func TestEnforceArchivesAndDiffs(t *testing.T) {
	team := `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`
	noPolicy := getFails(&types.RepositoryPolicyNotFoundException{Message: aws.String("none")})
	putFails := fmt.Errorf("%w: team-a/web: put: AccessDenied", archive.ErrNotArchived)
	tests := []struct {
		name       string
		dryRun     bool
		mode       Mode
		get        func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error)
		archiveErr error
		want       Result
		wantDiff   string
		wantPuts   int
		wantSets   int
		wantPrev   *string
		wantErrMsg string
	}{
		{name: "a replaced policy is archived before the write", get: stored(team), wantPuts: 1, wantSets: 1, wantPrev: aws.String(team),
			want:     Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline", Archive: "123456789012/us-east-1/team-a/web@k"},
			wantDiff: "added Pull; removed Team"},
		{name: "a merged policy is archived before the write", mode: Merge, get: stored(team), wantPuts: 1, wantSets: 1, wantPrev: aws.String(team),
			want:     Result{Repository: "team-a/web", Action: Applied, Reason: "policy differs from baseline", Archive: "123456789012/us-east-1/team-a/web@k"},
			wantDiff: "added Pull"},
		{name: "no policy is archived as none", get: noPolicy, wantPuts: 1, wantSets: 1,
			want:     Result{Repository: "team-a/web", Action: Applied, Reason: "repository had no policy", Archive: "123456789012/us-east-1/team-a/web@k"},
			wantDiff: "added Pull"},
		{name: "a dry run shows the diff and archives nothing", dryRun: true, get: stored(team),
			want: Result{Repository: "team-a/web", Action: WouldApply, Reason: "policy differs from baseline"}, wantDiff: "added Pull; removed Team"},
		{name: "a compliant repository archives nothing", get: stored(`{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`),
			want: Result{Repository: "team-a/web", Action: Unchanged}, wantDiff: "no change"},
		{name: "a failed archive leaves the repository unwritten", get: stored(team), archiveErr: putFails,
			want:       Result{Repository: "team-a/web", Action: Failed, Reason: "archive: policy not archived: team-a/web: put: AccessDenied"},
			wantErrMsg: "enforce team-a/web: archive: policy not archived: team-a/web: put: AccessDenied", wantDiff: "no change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeECR{get: tt.get}
			a := &fakeArchive{err: tt.archiveErr}
			e := &Enforcer{ECR: f, Baseline: fixedBaseline{text: tmpl, version: 7}, DryRun: tt.dryRun, Mode: tt.mode, Archive: a,
				Region: "us-east-1", AccountID: "123456789012", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			got, err := e.Enforce(WithTrigger(context.Background(), "event:e-1"), repo)
			if tt.wantErrMsg == "" && err != nil {
				t.Fatalf("Enforce: %v", err)
			}
			if tt.wantErrMsg != "" && (err == nil || err.Error() != tt.wantErrMsg || !errors.Is(err, archive.ErrNotArchived)) {
				t.Fatalf("Enforce error = %v, want %q wrapping ErrNotArchived", err, tt.wantErrMsg)
			}
			if s := got.Diff.String(); s != tt.wantDiff {
				t.Errorf("diff = %q, want %q", s, tt.wantDiff)
			}
			got.Diff = policydiff.Diff{}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if len(a.puts) != tt.wantPuts || len(f.sets) != tt.wantSets {
				t.Fatalf("puts, sets = %d, %d; want %d, %d", len(a.puts), len(f.sets), tt.wantPuts, tt.wantSets)
			}
			for _, rec := range a.puts {
				want := archive.Record{AccountID: "123456789012", Region: "us-east-1", Repository: "team-a/web", Key: "123456789012/us-east-1/team-a/web@k",
					Previous: tt.wantPrev, New: aws.String(f.sets[0]), BaselineVersion: 7, Trigger: "event:e-1", Mode: string(e.mode())}
				if d := cmp.Diff(want, rec); d != "" {
					t.Errorf("record (-want +got):\n%s", d)
				}
			}
		})
	}
}

// reservingECR is a paced client that logs, in order, each reservation of
// a write token, each call and each release.
type reservingECR struct {
	fakeECR
	log []string
}

func (r *reservingECR) ReserveWrite(ctx context.Context) (context.Context, func(), error) {
	r.log = append(r.log, "reserve")
	return ctx, func() { r.log = append(r.log, "release") }, nil
}

func (r *reservingECR) GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	r.log = append(r.log, "get")
	return r.fakeECR.GetRepositoryPolicy(ctx, in, opts...)
}

func (r *reservingECR) SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	r.log = append(r.log, "set")
	return r.fakeECR.SetRepositoryPolicy(ctx, in, opts...)
}

// TestWriteTokenBeforeRead: in merge mode the enforcer takes the write
// token before it reads, so nothing waits between read and write, and gives
// it back once done; replace mode and dry runs take none.
func TestWriteTokenBeforeRead(t *testing.T) {
	noPolicy := getFails(&types.RepositoryPolicyNotFoundException{Message: aws.String("none")})
	tests := []struct {
		name   string
		mode   Mode
		dryRun bool
		get    func(*ecr.GetRepositoryPolicyInput) (*ecr.GetRepositoryPolicyOutput, error)
		want   []string
	}{
		{name: "merge, a write", mode: Merge, get: noPolicy, want: []string{"reserve", "get", "set", "release"}},
		{name: "merge, compliant", mode: Merge, get: stored(compliant), want: []string{"reserve", "get", "release"}},
		{name: "merge, dry run", mode: Merge, dryRun: true, get: noPolicy, want: []string{"get"}},
		{name: "replace, a write", mode: Replace, get: noPolicy, want: []string{"get", "set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &reservingECR{fakeECR: fakeECR{get: tt.get}}
			e := &Enforcer{ECR: c, Baseline: fixedBaseline{text: tmpl}, Mode: tt.mode, DryRun: tt.dryRun, Region: "us-east-1", AccountID: "123456789012"}
			if _, err := e.Enforce(context.Background(), repo); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.log); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
