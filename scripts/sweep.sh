#!/usr/bin/env bash
# Sweep the registry through the deployed function: invoke it with a sweep
# request, which queues the sweep on its SQS queue, and print the sweep's
# id and how to follow it. Dry-run unless DRY_RUN=false.
#
#   make sweep                      # dry run, whole registry
#   make sweep PREFIX=team-a/       # dry run, one prefix
#   make sweep DRY_RUN=false        # apply
#   make sweep STACK=Platform       # the enforcer in another stack
#   make sweep FUNCTION=my-fn       # this function, no stack lookup
set -euo pipefail

STACK=${STACK:-EcrBaseline}
DRY_RUN=${DRY_RUN:-true}
PREFIX=${PREFIX:-}

# Anything but an exact true or false is refused: a typo must never turn a
# preview into a fleet-wide write.
case "$DRY_RUN" in
  true|false) ;;
  *) echo "sweep: DRY_RUN must be true or false, got '$DRY_RUN'" >&2; exit 2 ;;
esac

command -v aws >/dev/null || { echo "sweep: the AWS CLI (aws) is required" >&2; exit 2; }
aws sts get-caller-identity >/dev/null 2>&1 || {
  echo "sweep: no AWS credentials: configure a profile or export AWS_PROFILE first" >&2; exit 2; }

# The construct names its outputs after its id (EnforcerFunctionName in the
# EcrBaseline stack, <id>FunctionName in yours) and starts their
# descriptions with "ecr-baseline: "; the stack's other outputs may have
# no description.
if [ -z "${FUNCTION:-}" ]; then
  FUNCTION=$(aws cloudformation describe-stacks --stack-name "$STACK" --output text --query \
    "Stacks[0].Outputs[?ends_with(OutputKey, 'FunctionName') && starts_with(Description || '', 'ecr-baseline: ')].OutputValue")
  case "$FUNCTION" in
    ""|None) echo "sweep: stack $STACK has no ecr-baseline FunctionName output: deploy it first, or name the stack holding the construct (STACK=) or the function (FUNCTION=)" >&2; exit 2 ;;
    *[[:space:]]*) echo "sweep: stack $STACK holds more than one enforcer (${FUNCTION//[[:space:]]/, }): name one with FUNCTION=" >&2; exit 2 ;;
  esac
fi

out=$(mktemp); trap 'rm -f "$out"' EXIT
payload=$(python3 -c 'import json,sys; print(json.dumps({"action":"sweep","dryRun":sys.argv[1]=="true","prefix":sys.argv[2]}))' \
  "$DRY_RUN" "$PREFIX")
status=$(aws lambda invoke --function-name "$FUNCTION" --cli-binary-format raw-in-base64-out \
  --payload "$payload" --query FunctionError --output text "$out")
if [ "$status" != "None" ]; then
  echo "sweep: the request failed, nothing was queued:" >&2; cat "$out" >&2; echo >&2; exit 1
fi
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sweep"]["id"])' "$out")
cat <<EOF
sweep $id queued (dryRun $DRY_RUN, prefix '${PREFIX}').
Progress: the depth of the stack's SweepQueueUrl queue. Failures: the SweepDeadLetterQueueUrl queue.
Results, in CloudWatch Logs Insights on the function's log group:
  filter trigger = "sweep:$id" | stats count(*) by action
EOF
