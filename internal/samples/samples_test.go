package samples

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRelocate(t *testing.T) {
	create := Read(t, "create-repository.json")
	for _, tt := range []struct {
		name, account, region   string
		wantAccount, wantRegion string
	}{
		{"another account and region", "111111111111", "eu-west-1", "111111111111", "eu-west-1"},
		{"another region only", "", "eu-west-1", "123456789012", "eu-west-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			moved := Relocated(t, create, tt.account, tt.region)
			var ev struct {
				Account, Region string
				Detail          struct {
					AWSRegion string `json:"awsRegion"`
				}
			}
			if err := json.Unmarshal(moved, &ev); err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:ecr:" + tt.wantRegion + ":" + tt.wantAccount + ":repository/team-a/web"
			if ev.Account != tt.wantAccount || ev.Region != tt.wantRegion || ev.Detail.AWSRegion != tt.wantRegion || !strings.Contains(string(moved), arn) {
				t.Errorf("moved sample reads account %s region %s (record %s), or lacks %s", ev.Account, ev.Region, ev.Detail.AWSRegion, arn)
			}
		})
	}
	if _, err := Relocate([]byte(`{"action":"sweep"}`), "111111111111", ""); err == nil {
		t.Error("a payload with no account and region was moved")
	}
}
