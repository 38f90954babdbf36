package restore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/pkg/archive"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func entry(repo string, second int, mode string) archive.Entry {
	return archive.Entry{Key: repo + "@" + mode, Repository: repo, Time: t0.Add(time.Duration(second) * time.Second), Mode: mode}
}

func TestChoose(t *testing.T) {
	// In key order: each repository's oldest first.
	entries := []archive.Entry{
		entry("a", 1, "replace"), entry("a", 2, "merge"), entry("a", 3, Mode),
		entry("b", 4, Mode),
		entry("c", 5, "replace"),
	}
	tests := []struct {
		name     string
		earliest bool
		want     []int
	}{
		{"latest write undone, restores skipped", false, []int{2, 5}},
		{"earliest write after a time", true, []int{1, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, e := range choose(entries, tt.earliest) {
				got = append(got, int(e.Time.Sub(t0)/time.Second))
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("chosen seconds (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	const (
		team   = `{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`
		stored = "{\n  \"Statement\" : [ {\n    \"Action\" : [ \"ecr:PutImage\" ],\n    \"Principal\" : \"*\",\n    \"Effect\" : \"Allow\",\n    \"Sid\" : \"Team\"\n  } ],\n  \"Version\" : \"2012-10-17\"\n}"
		base   = `{"Version":"2012-10-17","Statement":[{"Sid":"Base","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]}`
		broken = `{"Statement":`
	)
	tests := []struct {
		name          string
		current, want *string
		step          step
	}{
		{"no policy, none wanted", nil, nil, none},
		{"policy, none wanted", aws.String(base), nil, remove},
		{"no policy, one wanted", nil, aws.String(team), set},
		{"ECR's formatting of the wanted policy", aws.String(stored), aws.String(team), none},
		{"another policy", aws.String(base), aws.String(team), set},
		{"unreadable current", aws.String(broken), aws.String(team), set},
		{"unreadable wanted, same text", aws.String(broken), aws.String(broken), none},
		{"unreadable wanted, other text", aws.String(base), aws.String(broken), set},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plan(tt.current, tt.want); got != tt.step {
				t.Errorf("plan = %d, want %d", got, tt.step)
			}
		})
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		runner  Runner
		opts    Options
		wantErr string
		wantIs  error
	}{
		{"no region", Runner{AccountID: "123456789012"}, Options{RunID: "r"},
			"restore: account id and region are required", nil},
		{"repository and prefix", Runner{AccountID: "123456789012", Region: "us-east-1"},
			Options{RunID: "r", Selection: Selection{Repository: "a", Prefix: "b"}},
			`restore: repository "a" and prefix "b" both set; choose one`, nil},
		{"no run id", Runner{AccountID: "123456789012", Region: "us-east-1"}, Options{},
			"restore: a run id is required; it names the run in the archive", nil},
		{"no exemption check", Runner{AccountID: "123456789012", Region: "us-east-1"}, Options{RunID: "r"},
			"restore: no exemption check, and the enforcer is not in dry-run", ErrNoExemptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.runner.Run(context.Background(), tt.opts)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
		})
	}
}

// fakeArchive lists entries for every query, remembering it, and holds a
// record for each entry: the repository had no policy before the write.
type fakeArchive struct {
	entries []archive.Entry
	queries []archive.Query
}

func (f *fakeArchive) List(_ context.Context, q archive.Query) ([]archive.Entry, error) {
	f.queries = append(f.queries, q)
	return f.entries, nil
}

func (f *fakeArchive) Get(_ context.Context, key string) (archive.Record, error) {
	return archive.Record{Key: key}, nil
}

func (f *fakeArchive) Put(_ context.Context, rec archive.Record) (archive.Record, error) {
	rec.Key = rec.Repository + "@restore"
	return rec, nil
}

// fakeECR holds a policy in every repository and deletes nothing for real.
type fakeECR struct {
	ECR
	deletes []string
}

func (f *fakeECR) GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	return &ecr.GetRepositoryPolicyOutput{PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`)}, nil
}

func (f *fakeECR) DeleteRepositoryPolicy(_ context.Context, in *ecr.DeleteRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.DeleteRepositoryPolicyOutput, error) {
	f.deletes = append(f.deletes, aws.ToString(in.RepositoryName))
	return &ecr.DeleteRepositoryPolicyOutput{}, nil
}

func TestRunQueriesTheSelection(t *testing.T) {
	tests := []struct {
		name string
		sel  Selection
		want archive.Query
	}{
		{"one repository", Selection{Repository: "team-a/app"},
			archive.Query{AccountID: "123456789012", Region: "eu-west-1", Repository: "team-a/app"}},
		{"a prefix", Selection{Prefix: "team-a/"},
			archive.Query{AccountID: "123456789012", Region: "eu-west-1", Prefix: "team-a/"}},
		{"a prefix written after a time", Selection{Prefix: "team-a/", After: t0},
			archive.Query{AccountID: "123456789012", Region: "eu-west-1", Prefix: "team-a/", After: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arch := &fakeArchive{entries: []archive.Entry{entry(tt.sel.Repository+tt.sel.Prefix+"x", 1, "replace")}}
			r := &Runner{ECR: &fakeECR{}, Archive: arch, AccountID: "123456789012", Region: "eu-west-1"}
			if _, err := r.Run(context.Background(), Options{Selection: tt.sel, EnforcerDryRun: true, DryRun: true, RunID: "r"}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]archive.Query{tt.want}, arch.queries); d != "" {
				t.Errorf("queries (-want +got):\n%s", d)
			}
		})
	}
}

// TestRunStopsWhenCancelled cancels the run as the first repository ends:
// it starts no other, and the summary says the run is not complete.
func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ecrFake := &fakeECR{}
	arch := &fakeArchive{entries: []archive.Entry{entry("a", 1, "replace"), entry("b", 2, "replace"), entry("c", 3, "replace")}}
	r := &Runner{ECR: ecrFake, Archive: arch, AccountID: "123456789012", Region: "eu-west-1", Concurrency: 1}
	sum, err := r.Run(ctx, Options{EnforcerDryRun: true, RunID: "r", OnResult: func(Result) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Scanned: 1, Restored: 1}
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"a"}, ecrFake.deletes); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
}
