package archive

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// failingS3 answers every call with err; embedding the interface leaves
// the calls a test does not expect nil, so they would panic.
type failingS3 struct {
	S3
	err  error
	puts int
}

func (f *failingS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.puts++
	return nil, f.err
}

func TestPutRefuses(t *testing.T) {
	ok := write("team-a/app", "replace", nil)
	tests := []struct {
		name     string
		edit     func(*Record)
		s3Err    error
		wantErr  string
		wantPuts int
	}{
		{"account id", func(r *Record) { r.AccountID = "12345" }, nil,
			`policy not archived: team-a/app: account id "12345" is not 12 digits`, 0},
		{"region", func(r *Record) { r.Region = "us/east" }, nil,
			`policy not archived: team-a/app: region "us/east" is not a region name`, 0},
		{"repository with @", func(r *Record) { r.Repository = "a@b" }, nil,
			`policy not archived: a@b: repository name "a@b" is empty or holds @`, 0},
		{"mode", func(r *Record) { r.Mode = "Replace" }, nil,
			`policy not archived: team-a/app: mode "Replace" is not lower-case letters`, 0},
		{"trigger", func(r *Record) { r.Trigger = "" }, nil,
			`policy not archived: team-a/app: no trigger: every record names what caused its write`, 0},
		{"S3 fails", func(*Record) {}, errors.New("AccessDenied"),
			`policy not archived: team-a/app: put s3://b/123456789012/us-east-1/team-a/app@20261124T090001.000000000Z_replace_`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &failingS3{err: tt.s3Err}
			a := &Archive{S3: fake, Bucket: "b", Now: clock()}
			rec := ok
			tt.edit(&rec)
			_, err := a.Put(context.Background(), rec)
			if !errors.Is(err, ErrNotArchived) {
				t.Fatalf("error %v does not wrap ErrNotArchived", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.wantErr) {
				t.Errorf("error %q, want it to begin %q", got, tt.wantErr)
			}
			if fake.puts != tt.wantPuts {
				t.Errorf("%d PutObject calls, want %d", fake.puts, tt.wantPuts)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key     string
		want    string
		wantErr bool
	}{
		{"123456789012/eu-west-1/a/b/c@20261124T090001.500000000Z_merge_0123456789abcdef.json", "a/b/c merge 2026-11-24T09:00:01.5Z", false},
		{"123456789012/eu-west-1/a@b@20261124T090001.500000000Z_merge_0123456789abcdef.json", "", true},
		{"123456789012/eu-west-1/a@20261124T090001Z_merge_0123456789abcdef.json", "", true},
		{"README.md", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e, err := parseKey(tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if got := e.Repository + " " + e.Mode + " " + e.Time.Format("2006-01-02T15:04:05.999999999Z07:00"); got != tt.want {
					t.Errorf("entry %q, want %q", got, tt.want)
				}
			}
		})
	}
}
