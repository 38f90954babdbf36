package archive

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/internal/moto"
)

var server *moto.Server

func TestMain(m *testing.M) { os.Exit(moto.RunTests(m, &server)) }

const bucket = "ecr-baseline-archive"

// start is when the tests' clock begins; each record is one second later.
var start = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// clock returns a Now that starts at start and moves one second per call.
func clock() func() time.Time {
	n := 0
	return func() time.Time { n++; return start.Add(time.Duration(n) * time.Second) }
}

// versionedBucket resets moto and creates the archive bucket with
// versioning on, as the stack creates it.
func versionedBucket(t *testing.T) *s3.Client {
	t.Helper()
	ctx := context.Background()
	cfg, err := server.Fresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := moto.S3(cfg)
	if err := moto.VersionedBucket(ctx, client, bucket); err != nil {
		t.Fatal(err)
	}
	return client
}

func write(repo, mode string, previous *string) Record {
	return Record{
		AccountID: moto.AccountID, Region: moto.Region, Repository: repo,
		Previous: previous, New: aws.String(`{"Version":"2012-10-17","Statement":[]}`),
		BaselineVersion: 3, Trigger: "event:0f5e", Mode: mode,
	}
}

// TestListOnMoto writes records for repositories whose names nest and
// share beginnings, then checks each query selects exactly its own.
func TestListOnMoto(t *testing.T) {
	ctx := context.Background()
	a := &Archive{S3: versionedBucket(t), Bucket: bucket, Now: clock()}
	// Written at start+1s, +2s, ... in this order.
	writes := []string{"team-a/app", "team-a/app-x", "team-a/app/sub", "team-b/app", "team-a/app", "team-a/app"}
	for _, repo := range writes {
		if _, err := a.Put(ctx, write(repo, "replace", nil)); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		Repository string
		Second     int
	}
	tests := []struct {
		name string
		q    Query
		want []seen
	}{
		{"one repository, oldest first", Query{Repository: "team-a/app"},
			[]seen{{"team-a/app", 1}, {"team-a/app", 5}, {"team-a/app", 6}}},
		{"one repository written after a time", Query{Repository: "team-a/app", After: start.Add(5 * time.Second)},
			[]seen{{"team-a/app", 6}}},
		{"a prefix takes every name that starts with it", Query{Prefix: "team-a/app"},
			// S3 lists keys in byte order: "-" and "/" sort before "@".
			[]seen{{"team-a/app-x", 2}, {"team-a/app/sub", 3}, {"team-a/app", 1}, {"team-a/app", 5}, {"team-a/app", 6}}},
		{"every repository written after a time", Query{After: start.Add(3 * time.Second)},
			[]seen{{"team-a/app", 5}, {"team-a/app", 6}, {"team-b/app", 4}}},
		{"nothing after the last write", Query{After: start.Add(6 * time.Second)}, nil},
		{"another region holds nothing", Query{Region: "eu-west-1", Prefix: "team-a/"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.AccountID = moto.AccountID
			if q.Region == "" {
				q.Region = moto.Region
			}
			entries, err := a.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []seen
			for _, e := range entries {
				if e.AccountID != moto.AccountID || e.Mode != "replace" {
					t.Errorf("entry %+v: wrong account or mode", e)
				}
				got = append(got, seen{e.Repository, int(e.Time.Sub(start) / time.Second)})
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("entries (-want +got):\n%s", d)
			}
		})
	}
}

// TestPutGetOnMoto stores a record, reads it back, and reads the raw
// object to check a missing previous policy is stored as an explicit null.
func TestPutGetOnMoto(t *testing.T) {
	ctx := context.Background()
	client := versionedBucket(t)
	a := &Archive{S3: client, Bucket: bucket, Now: clock()}
	previous := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamPush","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`
	tests := []struct {
		name      string
		previous  *string
		wantInRaw string
	}{
		{"repository had a policy", aws.String(previous), `"previousPolicy":"{\"Version\"`},
		{"repository had none", nil, `"previousPolicy":null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put, err := a.Put(ctx, write("team-a/app", "merge", tt.previous))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(put.Key, "123456789012/us-east-1/team-a/app@20261124T0900") || !strings.HasSuffix(put.Key, ".json") {
				t.Errorf("key %q", put.Key)
			}
			got, err := a.Get(ctx, put.Key)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(put, got); d != "" {
				t.Errorf("record read back (-put +got):\n%s", d)
			}
			if got.Format != Format || got.Mode != "merge" || got.BaselineVersion != 3 || got.Trigger != "event:0f5e" {
				t.Errorf("record %+v", got)
			}
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(put.Key)})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), tt.wantInRaw) {
				t.Errorf("stored object %s lacks %s", raw, tt.wantInRaw)
			}
		})
	}
}

// TestRetriedPutKeepsBothVersions puts one write twice at the same instant,
// as an SDK retry after a lost answer would: one key, two versions.
func TestRetriedPutKeepsBothVersions(t *testing.T) {
	ctx := context.Background()
	client := versionedBucket(t)
	a := &Archive{S3: client, Bucket: bucket, Now: func() time.Time { return start }}
	var keys []string
	for range 2 {
		rec, err := a.Put(ctx, write("app", "replace", nil))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rec.Key)
	}
	if keys[0] != keys[1] {
		t.Fatalf("the same write got two keys: %q", keys)
	}
	versions, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(keys[0])})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Versions) != 2 {
		t.Errorf("%d versions of %s, want 2", len(versions.Versions), keys[0])
	}
}

// TestGetRefusesAMisplacedRecord copies one repository's record under
// another's key: restoring it would put the wrong policy there.
func TestGetRefusesAMisplacedRecord(t *testing.T) {
	ctx := context.Background()
	client := versionedBucket(t)
	a := &Archive{S3: client, Bucket: bucket, Now: clock()}
	rec, err := a.Put(ctx, write("team-a/app", "replace", nil))
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(rec.Key, "team-a/app@", "team-b/app@", 1)
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(other), CopySource: aws.String(bucket + "/" + rec.Key),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Get(ctx, other)
	want := "archive get s3://" + bucket + "/" + other + ": the record inside is for 123456789012/us-east-1/team-a/app at 2026-11-24T09:00:01Z, not its key"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestGetMissing reads a key nothing was written to.
func TestGetMissing(t *testing.T) {
	a := &Archive{S3: versionedBucket(t), Bucket: bucket}
	_, err := a.Get(context.Background(), "123456789012/us-east-1/app@20261124T090000.000000000Z_replace_0123456789abcdef.json")
	var missing *s3types.NoSuchKey
	if !errors.As(err, &missing) {
		t.Errorf("error %v, want NoSuchKey", err)
	}
}
