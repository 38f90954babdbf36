package enforcer

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

func TestDecide(t *testing.T) {
	// rendered is tmpl rendered for repo; compliant is the same policy as
	// ECR reformats it.
	rendered := strings.ReplaceAll(tmpl, "${AccountId}", "123456789012")
	team := `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`
	teamAndBaseline := `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	lockOutAndBaseline := `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"ecr:*"},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	tests := []struct {
		name    string
		current string
		// written is the policy a team's SetRepositoryPolicy set.
		written string
		mode    Mode
		force   bool
		dryRun  bool
		want    decision
		// wantPolicy is the written policy's canonical form, when it is
		// not the rendered baseline itself.
		wantPolicy string
		wantErrIs  error
		wantErr    string
	}{
		{name: "no policy", want: decision{Action: Applied, Reason: "repository had no policy", Policy: rendered}},
		{name: "no policy, dry run", dryRun: true, want: decision{Action: WouldApply, Reason: "repository had no policy"}},
		{name: "compliant after ECR reformatting", current: compliant, want: decision{Action: Unchanged}},
		{name: "compliant, dry run", current: compliant, dryRun: true, want: decision{Action: Unchanged}},
		{name: "differs", current: team, want: decision{Action: Applied, Reason: "policy differs from baseline", Policy: rendered}},
		{name: "unreadable stored policy is replaced", current: "{",
			want: decision{Action: Applied, Reason: "stored policy unreadable: policy is not a JSON object: unexpected EOF", Policy: rendered}},
		{name: "merge keeps the team's statements", current: team, mode: Merge,
			want:       decision{Action: Applied, Reason: "policy differs from baseline"},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]},{"Sid":"Team","Effect":"Allow","Principal":"*","Action":["ecr:putimage"]}]}`},
		{name: "merge is compliant with the baseline statements present", current: teamAndBaseline, mode: Merge, want: decision{Action: Unchanged}},
		{name: "replace is not compliant with extra statements", current: teamAndBaseline,
			want: decision{Action: Applied, Reason: "policy differs from baseline", Policy: rendered}},
		{name: "merge leaves an unreadable policy alone", current: "{", mode: Merge, wantErrIs: policy.ErrUnmergeable, wantErr: unmergeable},
		{name: "merge refuses kept statements that lock out", current: lockOut, mode: Merge, wantErrIs: policy.ErrLockOut, wantErr: "merged policy: " + lockOutMsg},
		{name: "merge refuses them in a dry run too", current: lockOut, mode: Merge, dryRun: true, wantErrIs: policy.ErrLockOut, wantErr: "merged policy: " + lockOutMsg},
		{name: "merge with force writes them", current: lockOut, mode: Merge, force: true,
			want:       decision{Action: Applied, Reason: "policy differs from baseline"},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":["ecr:*"]},{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]}]}`},
		{name: "merge puts back a team statement lost to a race", current: teamAndBaseline, mode: Merge,
			written:    `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Sid":"TeamB","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`,
			want:       decision{Action: Applied, Reason: "policy differs from baseline"},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["ecr:batchgetimage","ecr:getdownloadurlforlayer"]},{"Sid":"Team","Effect":"Allow","Principal":"*","Action":["ecr:putimage"]},{"Sid":"TeamB","Effect":"Allow","Principal":"*","Action":["ecr:batchgetimage"]}]}`},
		{name: "merge: a written policy the repository still holds changes nothing", current: teamAndBaseline, written: team, mode: Merge, want: decision{Action: Unchanged}},
		{name: "merge: a policy deleted since the team wrote stays deleted but for the baseline", current: "", written: team, mode: Merge,
			want: decision{Action: Applied, Reason: "repository had no policy", Policy: rendered}},
		{name: "replace ignores the written policy", current: compliant, written: team, want: decision{Action: Unchanged}},
		{name: "merge leaves a compliant lock-out alone: nothing to write", current: lockOutAndBaseline, mode: Merge, want: decision{Action: Unchanged}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decide(tt.current, tt.written, rendered, tt.mode, policy.Guard{Force: tt.force}, tt.dryRun)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, tt.wantErrIs) {
					t.Fatalf("decide error = %v, want %q wrapping %v", err, tt.wantErr, tt.wantErrIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("decide: %v", err)
			}
			if tt.wantPolicy != "" {
				doc, err := policy.Parse(got.Policy)
				if err != nil {
					t.Fatalf("policy to write: %v", err)
				}
				if canon := string(doc.Canonical()); canon != tt.wantPolicy {
					t.Errorf("policy to write\n%s\nwant\n%s", canon, tt.wantPolicy)
				}
				got.Policy = ""
			}
			// TestEnforceArchivesAndDiffs checks the diff of each kind of
			// write; this table checks the decision.
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(decision{}, "Diff")); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}
