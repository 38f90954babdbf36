// Package archive keeps every repository policy a write replaces, in S3,
// before the write: one JSON object per write, so a policy the enforcer
// replaced or merged into can be read back and restored.
//
// Keys are
//
//	<account>/<region>/<repository>@<time>_<mode>_<hash>.json
//
// with the time in UTC, fixed width, to the nanosecond, so one
// repository's records list in the order they were written, "@" (which an
// ECR repository name cannot hold) ends the name, and the records of every
// repository whose name starts with a prefix are one prefix listing. The
// mode is in the key so a listing tells a restore's own records apart
// without reading them; the hash of the body keeps two writes in the same
// nanosecond apart and makes a retried Put of one write land on the same
// key (bucket versioning keeps both).
package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Format is the record layout this package writes and reads.
const Format = 1

// ErrNotArchived marks a Put that failed. The caller must then not write
// the policy: the write would replace a policy kept nowhere.
var ErrNotArchived = errors.New("policy not archived")

// S3 is the part of the S3 API the archive calls.
type S3 interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3 = (*s3.Client)(nil)

// Record is one policy write: what the repository held before it and what
// was written.
type Record struct {
	Format     int       `json:"format"`
	Key        string    `json:"key"`
	AccountID  string    `json:"accountId"`
	Region     string    `json:"region"`
	Repository string    `json:"repository"`
	Time       time.Time `json:"time"`
	// Previous is the policy text the write replaced; nil (JSON null) when
	// the repository had none.
	Previous *string `json:"previousPolicy"`
	// New is the policy text written; nil when the write deleted the
	// policy (a restore to a repository that had none).
	New *string `json:"newPolicy"`
	// BaselineVersion is the SSM parameter version the write applied; 0
	// for a write that applied no baseline (a restore).
	BaselineVersion int64 `json:"baselineVersion"`
	// Trigger names what caused the write: an EventBridge event id, a
	// backfill or restore run id.
	Trigger string `json:"trigger"`
	// Mode is the writer's mode: "replace" or "merge" for the enforcer,
	// "restore" for a restore. Lower-case letters only: it is part of the
	// key.
	Mode string `json:"mode"`
}

// Entry is a record as a listing names it, read from its key alone.
type Entry struct {
	Key        string
	AccountID  string
	Region     string
	Repository string
	Time       time.Time
	Mode       string
}

// Archive reads and writes records in one bucket.
type Archive struct {
	S3     S3
	Bucket string
	// Now stamps each record; tests set it, nil means time.Now.
	Now func() time.Time
}

// timeLayout sorts as the time does: fixed width, UTC, zeros kept.
const timeLayout = "20060102T150405.000000000Z"

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z0-9-]+$`)
	modePattern    = regexp.MustCompile(`^[a-z]+$`)
	keyPattern     = regexp.MustCompile(`^([0-9]{12})/([a-z0-9-]+)/([^@]+)@([0-9]{8}T[0-9]{6}\.[0-9]{9}Z)_([a-z]+)_[0-9a-f]{16}\.json$`)
)

// Put stores rec before its write; the caller writes the policy only when
// Put returned no error. It sets Format, Key and Time (from Now) and
// returns the record as stored. Every error wraps ErrNotArchived.
func (a *Archive) Put(ctx context.Context, rec Record) (Record, error) {
	if err := checkRecord(rec); err != nil {
		return rec, fmt.Errorf("%w: %s: %w", ErrNotArchived, rec.Repository, err)
	}
	rec.Format, rec.Key = Format, ""
	rec.Time = a.now().UTC()
	body, err := json.Marshal(rec)
	if err != nil {
		return rec, fmt.Errorf("%w: %s: encode: %w", ErrNotArchived, rec.Repository, err)
	}
	sum := sha256.Sum256(body)
	rec.Key = fmt.Sprintf("%s@%s_%s_%s.json", repoPrefix(rec.AccountID, rec.Region, rec.Repository),
		rec.Time.Format(timeLayout), rec.Mode, hex.EncodeToString(sum[:8]))
	// The stored body names its own key, so a record copied or read on its
	// own still says where it belongs.
	if body, err = json.Marshal(rec); err != nil {
		return rec, fmt.Errorf("%w: %s: encode: %w", ErrNotArchived, rec.Repository, err)
	}
	if _, err := a.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(a.Bucket), Key: aws.String(rec.Key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	}); err != nil {
		return rec, fmt.Errorf("%w: %s: put s3://%s/%s: %w", ErrNotArchived, rec.Repository, a.Bucket, rec.Key, err)
	}
	return rec, nil
}

func checkRecord(rec Record) error {
	switch {
	case !accountPattern.MatchString(rec.AccountID):
		return fmt.Errorf("account id %q is not 12 digits", rec.AccountID)
	case !regionPattern.MatchString(rec.Region):
		return fmt.Errorf("region %q is not a region name", rec.Region)
	case rec.Repository == "" || strings.Contains(rec.Repository, "@"):
		return fmt.Errorf("repository name %q is empty or holds @", rec.Repository)
	case !modePattern.MatchString(rec.Mode):
		return fmt.Errorf("mode %q is not lower-case letters", rec.Mode)
	case rec.Trigger == "":
		return errors.New("no trigger: every record names what caused its write")
	}
	return nil
}

// Get reads the record stored under key. A body that does not match its
// key (another repository's record copied there) is an error: restoring it
// would put one repository's policy on another.
func (a *Archive) Get(ctx context.Context, key string) (Record, error) {
	var rec Record
	entry, err := parseKey(key)
	if err != nil {
		return rec, fmt.Errorf("archive get: %w", err)
	}
	out, err := a.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(key)})
	if err != nil {
		return rec, fmt.Errorf("archive get s3://%s/%s: %w", a.Bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return rec, fmt.Errorf("archive get s3://%s/%s: read: %w", a.Bucket, key, err)
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, fmt.Errorf("archive get s3://%s/%s: decode: %w", a.Bucket, key, err)
	}
	switch {
	case rec.Format != Format:
		return rec, fmt.Errorf("archive get s3://%s/%s: record format %d, this version reads %d", a.Bucket, key, rec.Format, Format)
	case rec.Key != key || rec.AccountID != entry.AccountID || rec.Region != entry.Region ||
		rec.Repository != entry.Repository || !rec.Time.Equal(entry.Time) || rec.Mode != entry.Mode:
		return rec, fmt.Errorf("archive get s3://%s/%s: the record inside is for %s/%s/%s at %s, not its key", a.Bucket, key,
			rec.AccountID, rec.Region, rec.Repository, rec.Time.Format(time.RFC3339Nano))
	}
	return rec, nil
}

// Query selects records of one account and region.
type Query struct {
	AccountID, Region string
	// Repository selects that one repository; otherwise Prefix selects
	// every repository whose name starts with it ("" for all of them).
	// Setting both is an error.
	Repository, Prefix string
	// After, when set, keeps only records written after it.
	After time.Time
}

// List returns the entries a query selects, in key order: by repository
// name, each repository's in the order they were written. It reads keys
// only, never bodies, so a listing of the whole account costs one call per
// thousand records.
func (a *Archive) List(ctx context.Context, q Query) ([]Entry, error) {
	if q.Repository != "" && q.Prefix != "" {
		return nil, fmt.Errorf("archive list: repository %q and prefix %q both set; choose one", q.Repository, q.Prefix)
	}
	prefix := repoPrefix(q.AccountID, q.Region, q.Prefix)
	if q.Repository != "" {
		prefix = repoPrefix(q.AccountID, q.Region, q.Repository) + "@"
	}
	var out []Entry
	pages := s3.NewListObjectsV2Paginator(a.S3, &s3.ListObjectsV2Input{Bucket: aws.String(a.Bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("archive list s3://%s/%s: %w", a.Bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			e, err := parseKey(aws.ToString(obj.Key))
			if err != nil {
				return nil, fmt.Errorf("archive list s3://%s/%s: %w", a.Bucket, prefix, err)
			}
			if !q.After.IsZero() && !e.Time.After(q.After) {
				continue
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func repoPrefix(account, region, name string) string {
	return account + "/" + region + "/" + name
}

func parseKey(key string) (Entry, error) {
	m := keyPattern.FindStringSubmatch(key)
	if m == nil {
		return Entry{}, fmt.Errorf("key %q is not an archive record's", key)
	}
	t, err := time.Parse(timeLayout, m[4])
	if err != nil {
		return Entry{}, fmt.Errorf("key %q: time: %w", key, err)
	}
	return Entry{Key: key, AccountID: m[1], Region: m[2], Repository: m[3], Time: t, Mode: m[5]}, nil
}

func (a *Archive) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}
