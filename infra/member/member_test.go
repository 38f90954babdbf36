package member

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecr-baseline/ecr-baseline/infra/internal/cdktest"
	"github.com/ecr-baseline/ecr-baseline/pkg/policy"
)

var tmpDir string // removed after the tests

func TestMain(m *testing.M) {
	cdktest.Main(m, func(dir string) error {
		tmpDir = dir
		return nil
	})
}

// synthesized is a member stack's template and the cloud assembly it was
// written to.
type synthesized struct {
	outdir string
	json   cdktest.Template
}

func synthesize(t *testing.T, props *StackProps) synthesized {
	t.Helper()
	outdir, err := os.MkdirTemp(tmpDir, "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	stack := NewStack(app, "Member", props)
	var tmpl assertions.Template
	cdktest.Check(t, func() { tmpl = assertions.Template_FromStack(stack, nil) })
	return synthesized{outdir: outdir, json: cdktest.FromAssertions(t, tmpl)}
}

func diff(t *testing.T, what string, got any, want string) {
	t.Helper()
	if d := cmp.Diff(cdktest.JSON(t, want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// hubBus is the hub's bus, from the parameters.
const hubBus = `{"Fn::Sub": "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/${HubEventBusName}"}`

// TestMemberTemplate is the whole template, for a hub with and without an
// organisation ID: what every member account deploys.
func TestMemberTemplate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props *StackProps
		// roleParameters are the defaults of MemberRoleName and
		// MemberRoleRegion, trustCondition the trust statement's Condition.
		roleParameters, trustCondition string
	}{
		{"organisation", &StackProps{OrganizationID: "o-abcdefghij", MemberRoleName: "platform-ecr", MemberRoleRegion: "eu-west-1"},
			`"Default": "platform-ecr"`,
			`"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},`},
		{"listed accounts, defaults", nil, `"Default": "ecr-baseline-member"`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synthesize(t, tc.props)
			roleRegionDefault := ""
			if tc.props != nil {
				roleRegionDefault = `"Default": "eu-west-1",`
			}
			role := s.json.Resource(t, "AWS::IAM::Role", "MemberRole")
			delete(s.json["Resources"].(map[string]any)["MemberRole"].(map[string]any), "Metadata") // cdk-nag's suppression
			diff(t, "template", map[string]any(s.json), `{
				"Description": "ecr-baseline member: forwards ECR repository events to the hub and lets the hub's function enforce the baseline here",
				"Parameters": {
					"HubAccountId": {"Type": "String", "AllowedPattern": "^[0-9]{12}$", "Description": "the account of the ecr-baseline hub"},
					"HubRegion": {"Type": "String", "AllowedPattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$", "Description": "the region of the ecr-baseline hub"},
					"HubEventBusName": {"Type": "String", "AllowedPattern": "^[A-Za-z0-9._/-]{1,256}$",
						"Description": "the hub's event bus (hub output EnforcerEventBusName)"},
					"HubRoleArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
						"Description": "the hub function's role, the only principal the member role trusts (hub output EnforcerRoleArn)"},
					"MemberRoleName": {"Type": "String", "AllowedPattern": "^[\\w+=,.@-]{1,64}$", `+tc.roleParameters+`,
						"Description": "the member role's name: the hub's memberRoleName setting"},
					"MemberRoleRegion": {"Type": "String", "AllowedPattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$", `+roleRegionDefault+`
						"Description": "the one region of each account where the member role, an account-wide resource, is created"}
				},
				"Conditions": {
					"ForwardEvents": {"Fn::Not": [{"Fn::And": [
						{"Fn::Equals": [{"Ref": "AWS::AccountId"}, {"Ref": "HubAccountId"}]},
						{"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "HubRegion"}]}]}]},
					"CreateMemberRole": {"Fn::And": [
						{"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "MemberRoleRegion"}]},
						{"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::AccountId"}, {"Ref": "HubAccountId"}]}]}]}
				},
				"Resources": {
					"ForwardRuleF04AEE36": {"Type": "AWS::Events::Rule", "Condition": "ForwardEvents", "Properties": {
						"Description": "ecr-baseline: forwards successful ECR repository creations, policy changes and tag changes to the hub",
						"EventPattern": `+cdktest.RepositoryEventPattern+`,
						"State": "ENABLED",
						"Targets": [{"Id": "Target0", "Arn": `+hubBus+`, "RoleArn": {"Fn::GetAtt": ["ForwardRuleEventsRole92A354FA", "Arn"]}}]
					}},
					"ForwardRuleEventsRole92A354FA": {"Type": "AWS::IAM::Role", "Condition": "ForwardEvents", "Properties": {
						"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
							{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
					}},
					"ForwardRuleEventsRoleDefaultPolicyA423822E": {"Type": "AWS::IAM::Policy", "Condition": "ForwardEvents", "Properties": {
						"PolicyName": "ForwardRuleEventsRoleDefaultPolicyA423822E",
						"Roles": [{"Ref": "ForwardRuleEventsRole92A354FA"}],
						"PolicyDocument": {"Version": "2012-10-17", "Statement": [
							{"Effect": "Allow", "Action": "events:PutEvents", "Resource": `+hubBus+`}]}
					}},
					"MemberRole": {"Type": "AWS::IAM::Role", "Condition": "CreateMemberRole", "Properties": {
						"RoleName": {"Ref": "MemberRoleName"},
						"Description": "ecr-baseline: assumed by the hub's function to enforce the baseline repository policy in this account",
						"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Sid": "HubFunction", "Effect": "Allow",
							"Principal": {"AWS": {"Ref": "HubRoleArn"}}, `+tc.trustCondition+`
							"Action": "sts:AssumeRole"}]},
						"Policies": [{"PolicyName": "EnforceRepositoryPolicy", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
							"Sid": "EnforceRepositoryPolicy", "Effect": "Allow",
							"Action": ["ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:ListTagsForResource", "ecr:DescribeRepositories"],
							"Resource": {"Fn::Sub": "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"}}]}}]
					}}
				}
			}`)
			// The member role is what the hub's own role is for its
			// account: exactly the calls the enforcer makes.
			statement := role["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)[0]
			if d := cmp.Diff(cdktest.JSON(t, mustJSON(t, policy.EnforcerActions)), statement.(map[string]any)["Action"]); d != "" {
				t.Errorf("member role actions differ from policy.EnforcerActions (-want +got):\n%s", d)
			}
		})
	}
}

// TestMemberTemplateNeedsNoBootstrap: a StackSet deploys the template in
// accounts where nobody ran `cdk bootstrap`, so it must refer to nothing
// bootstrap creates and carry no asset.
func TestMemberTemplateNeedsNoBootstrap(t *testing.T) {
	s := synthesize(t, nil)
	text := mustJSON(t, s.json)
	for _, bootstrap := range []string{"BootstrapVersion", "cdk-bootstrap", "hnb659fds", "cdk-", "Asset", "AWS::CDK::Metadata", "S3Bucket"} {
		if strings.Contains(text, bootstrap) {
			t.Errorf("member template mentions %q", bootstrap)
		}
	}
	if _, ok := s.json["Rules"]; ok {
		t.Errorf("member template has Rules %v (CDK's bootstrap version check)", s.json["Rules"])
	}

	b, err := os.ReadFile(filepath.Join(s.outdir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type         string
			Properties   map[string]any
			Dependencies any
		}
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	stack := manifest.Artifacts["Member"]
	// What the default synthesizer adds: roles in the bootstrap stack,
	// its version check, the template uploaded to its bucket, and the
	// asset manifest the stack depends on.
	diff(t, "stack artifact", map[string]any{"type": stack.Type, "properties": stack.Properties, "dependencies": stack.Dependencies}, `{
		"type": "aws:cloudformation:stack",
		"properties": {"templateFile": "Member.template.json", "terminationProtection": false, "validateOnSynth": false},
		"dependencies": null
	}`)
	if matches, _ := filepath.Glob(filepath.Join(s.outdir, "*.assets.json")); len(matches) != 0 {
		t.Errorf("asset manifests %v: the member stack has no assets", matches)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
