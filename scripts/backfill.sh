#!/usr/bin/env bash
# Backfill through the deployed function: invoke it with a backfill
# payload, resume with its continuation token until the run is complete,
# and print the summed summary. Dry-run unless DRY_RUN=false.
#
#   make backfill                      # dry run, whole registry
#   make backfill PREFIX=team-a/       # dry run, one prefix
#   make backfill DRY_RUN=false        # apply
#   make backfill STACK=Platform       # the enforcer in another stack
#   make backfill FUNCTION=my-fn       # this function, no stack lookup
set -euo pipefail

STACK=${STACK:-EcrBaseline}
DRY_RUN=${DRY_RUN:-true}
PREFIX=${PREFIX:-}

# Anything but an exact true or false is refused: a typo must never turn a
# preview into a fleet-wide write.
case "$DRY_RUN" in
  true|false) ;;
  *) echo "backfill: DRY_RUN must be true or false, got '$DRY_RUN'" >&2; exit 2 ;;
esac

command -v aws >/dev/null || { echo "backfill: the AWS CLI (aws) is required" >&2; exit 2; }
aws sts get-caller-identity >/dev/null 2>&1 || {
  echo "backfill: no AWS credentials: configure a profile or export AWS_PROFILE first" >&2; exit 2; }

# The construct names its outputs after its id (EnforcerFunctionName in the
# EcrBaseline stack, <id>FunctionName in yours) and starts their
# descriptions with "ecr-baseline: "; the stack's other outputs may have
# no description.
if [ -z "${FUNCTION:-}" ]; then
  FUNCTION=$(aws cloudformation describe-stacks --stack-name "$STACK" --output text --query \
    "Stacks[0].Outputs[?ends_with(OutputKey, 'FunctionName') && starts_with(Description || '', 'ecr-baseline: ')].OutputValue")
  case "$FUNCTION" in
    ""|None) echo "backfill: stack $STACK has no ecr-baseline FunctionName output: deploy it first, or name the stack holding the construct (STACK=) or the function (FUNCTION=)" >&2; exit 2 ;;
    *[[:space:]]*) echo "backfill: stack $STACK holds more than one enforcer (${FUNCTION//[[:space:]]/, }): name one with FUNCTION=" >&2; exit 2 ;;
  esac
fi

out=$(mktemp); trap 'rm -f "$out"' EXIT
token="" total="{}" run=0
while :; do
  run=$((run + 1))
  payload=$(python3 -c 'import json,sys; print(json.dumps({"action":"backfill","dryRun":sys.argv[1]=="true","prefix":sys.argv[2],"continuationToken":sys.argv[3]}))' \
    "$DRY_RUN" "$PREFIX" "$token")
  # The function may run for minutes: let the CLI wait as long as it does.
  status=$(aws lambda invoke --function-name "$FUNCTION" --cli-binary-format raw-in-base64-out \
    --cli-read-timeout 0 --payload "$payload" --query FunctionError --output text "$out")
  if [ "$status" != "None" ]; then
    echo "backfill: invocation $run failed:" >&2; cat "$out" >&2; echo >&2; exit 1
  fi
  # The token comes first: read gives the last name the rest of the line,
  # and the summary may hold spaces.
  read -r token total < <(python3 - "$out" "$total" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["summary"]
total = json.loads(sys.argv[2])
# Every count is summed, so a count the function adds is never left out.
for k, v in summary.items():
    if isinstance(v, int) and not isinstance(v, bool):
        total[k] = total.get(k, 0) + v
total["failures"] = total.get("failures", []) + summary.get("failures", [])
total["complete"] = summary["complete"]
print(summary.get("nextToken") or "-", json.dumps(total, separators=(",", ":")))
PY
)
  echo "invocation $run done" >&2
  [ "$token" = "-" ] && break
done
python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), indent=2))' "$total"
python3 -c 'import json,sys; sys.exit(1 if json.loads(sys.argv[1])["failed"] else 0)' "$total"
