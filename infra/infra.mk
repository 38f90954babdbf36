# CDK targets, included by the root Makefile. The CDK app is Go (infra/);
# the aws-cdk CLI is pinned in package.json/package-lock.json and installed
# into the git-ignored node_modules/.

NPM_STAMP := node_modules/.installed
CDK       := node_modules/.bin/cdk
# Extra CDK CLI arguments, e.g. make deploy CDK_ARGS='-c dryRun=true'.
CDK_ARGS  ?=
# The stacks diff and deploy act on: the hub. In organisation mode the app
# also has EcrBaselineMember, deployed by a StackSet or with
# CDK_STACKS=EcrBaselineMember in each member account (docs/organization.md).
CDK_STACKS ?= EcrBaseline
TEST_DEPS += $(NPM_STAMP)

# jsii (under the Go CDK) prints a large banner on every run when Node is
# older than it likes; the machines here have Node 20, which it calls
# end-of-life. With Node 22 or later there is nothing to silence.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

.PHONY: synth
synth: $(NPM_STAMP) ## synthesize the CDK stack into cdk.out, building the function (no AWS account needed)
	$(CDK) synth --quiet $(CDK_ARGS)
	@ls cdk.out/*.template.json

.PHONY: cfn-lint
cfn-lint: synth $(VENV)/.installed ## run cfn-lint on the synthesized templates
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

.PHONY: diff
diff: aws-credentials $(NPM_STAMP) ## compare the stack with the deployed one
	$(CDK) diff $(CDK_ARGS) $(CDK_STACKS)

.PHONY: deploy
deploy: aws-credentials $(NPM_STAMP) ## deploy the stack (after make cdk-bootstrap; see infra/README.md)
	$(CDK) deploy $(CDK_ARGS) $(CDK_STACKS)

.PHONY: cdk-bootstrap
cdk-bootstrap: aws-credentials $(NPM_STAMP) ## once per account and region: create the CDK's deployment resources
	$(CDK) bootstrap $(CDK_ARGS)

# diff, deploy and cdk-bootstrap talk to AWS: fail early, with a hint, when
# nothing says which account to use, rather than deep inside the CDK CLI.
.PHONY: aws-credentials
aws-credentials:
	@hint="Configure credentials (aws configure, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and retry; 'make synth' needs none."; \
	if command -v aws >/dev/null 2>&1; then \
		if ! out=$$(aws sts get-caller-identity --output text --query Arn 2>&1); then \
			echo "No usable AWS credentials: aws sts get-caller-identity failed:" >&2; \
			echo "  $$out" | tail -n 3 >&2; echo "$$hint" >&2; exit 1; \
		fi; \
		echo "AWS identity: $$out"; \
	elif [ -n "$${AWS_ACCESS_KEY_ID:-}" ] || [ -n "$${AWS_PROFILE:-}" ] || [ -n "$${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] \
		|| [ -n "$${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}$${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}" ] \
		|| [ -s "$${AWS_SHARED_CREDENTIALS_FILE:-$$HOME/.aws/credentials}" ] || [ -s "$${AWS_CONFIG_FILE:-$$HOME/.aws/config}" ]; then \
		echo "AWS credentials found (no aws CLI to verify them)"; \
	else \
		echo "No AWS credentials found (no aws CLI, no AWS_* variables, no ~/.aws files)." >&2; echo "$$hint" >&2; exit 1; \
	fi
