package ecrevent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file    string
		want    Event
		wantErr error
	}{
		{file: "create-repository.json", want: Event{
			ID:        "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
			EventName: "CreateRepository",
			Repository: Repository{
				RegistryID: "123456789012", Region: "us-east-1", Name: "team-a/web",
				ARN: "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web",
			},
		}},
		{file: "create-repository-failed.json", want: Event{
			ID:         "0d3a6c52-1b7e-4f0e-8c6a-91e4b2f7d5a8",
			EventName:  "CreateRepository",
			FailedCall: "RepositoryAlreadyExistsException",
			Repository: Repository{
				RegistryID: "123456789012", Region: "us-east-1", Name: "team-a/web",
				ARN: "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web",
			},
		}},
		{file: "not-ours.json", wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(sample(t, tt.file))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBadInput(t *testing.T) {
	good := string(sample(t, "create-repository.json"))
	tests := []struct {
		name    string
		input   string
		wantErr error
		want    string
	}{
		{"empty", "", ErrMalformed, "malformed event: unexpected end of JSON input"},
		{"truncated", good[:len(good)/2], ErrMalformed, "malformed event"},
		{"array", "[]", ErrMalformed, "cannot unmarshal array"},
		{"null", "null", ErrUnsupported, `source "", detail-type ""`},
		{"backfill-like payload", `{"action":"backfill"}`, ErrUnsupported, `source ""`},
		{"wrong source", strings.Replace(good, `"source": "aws.ecr"`, `"source": "aws.s3"`, 1), ErrUnsupported, `source "aws.s3"`},
		{"wrong event name", strings.Replace(good, `"eventName": "CreateRepository"`, `"eventName": "DeleteRepository"`, 1), ErrUnsupported, "ecr.amazonaws.com DeleteRepository"},
		{"wrong event source", strings.Replace(good, `"eventSource": "ecr.amazonaws.com"`, `"eventSource": "s3.amazonaws.com"`, 1), ErrUnsupported, "s3.amazonaws.com CreateRepository"},
		{"no detail", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x"}`, ErrMalformed, "event x has no detail"},
		{"detail wrong type", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x","detail":"str"}`, ErrMalformed, "event x detail"},
		{"no repository", `{"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","id":"x","region":"us-east-1","account":"123456789012","detail":{"eventSource":"ecr.amazonaws.com","eventName":"CreateRepository"}}`,
			ErrMalformed, "no repository name in responseElements or requestParameters"},
		{"invalid repository name", strings.ReplaceAll(good, "team-a/web", "Team A"), ErrMalformed, `repository name "Team A" is not a valid ECR repository name`},
		{"invalid registry id", strings.ReplaceAll(good, `"registryId": "123456789012"`, `"registryId": "12345"`), ErrMalformed, `registry id "12345" is not a 12-digit account id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestParseFallsBackToRequestParameters(t *testing.T) {
	in := `{"id":"e","source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"cn-north-1",
	"detail":{"eventSource":"ecr.amazonaws.com","eventName":"CreateRepository","awsRegion":"cn-north-1","recipientAccountId":"111122223333",
	"requestParameters":{"repositoryName":"svc/api"},"responseElements":null}}`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Repository{RegistryID: "111122223333", Region: "cn-north-1", Name: "svc/api",
		ARN: "arn:aws-cn:ecr:cn-north-1:111122223333:repository/svc/api"}
	if diff := cmp.Diff(want, got.Repository); diff != "" {
		t.Errorf("repository (-want +got):\n%s", diff)
	}
}
