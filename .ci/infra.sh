#!/usr/bin/env bash
# Infrastructure checks, offline: cfn-lint (CloudFormation/SAM validation)
# and checkov (security policy) over infra/template.yaml. Fails on any
# cfn-lint error or warning and on any failed checkov check; a check is
# suppressed only in the template, with a written reason.
#
# The tools live in their own virtualenv (default
# ~/.cache/voronka/infra-venv, override with VORONKA_INFRA_VENV): checkov
# pins boto3/botocore versions that would break an awscli installed in the
# same Python. Measured on 2 cores: first run ~55-70 s (pip install
# 43-67 s), later runs ~12 s.
set -euo pipefail
cd "$(dirname "$0")/.."

template=infra/template.yaml
venv="${VORONKA_INFRA_VENV:-$HOME/.cache/voronka/infra-venv}"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "infra tools"
if [[ ! -x "$venv/bin/cfn-lint" || ! -x "$venv/bin/checkov" ]] \
   || ! "$venv/bin/cfn-lint" --version 2>/dev/null | grep -q 1.58.0; then
  started=$SECONDS
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "cfn-lint==1.58.0" "checkov==3.3.30"
  echo "installed cfn-lint and checkov into $venv in $((SECONDS - started)) s"
fi
"$venv/bin/cfn-lint" --version
"$venv/bin/checkov" --version

step "cfn-lint $template"
"$venv/bin/cfn-lint" "$template"

step "checkov $template"
"$venv/bin/checkov" -f "$template" --framework cloudformation --skip-download --compact --quiet

# cfn-lint does not look inside a SAM state machine's Definition; validate
# the Amazon States Language separately (npm asl-validator, ~3 s install).
step "asl-validator: DailyPipeline definition"
asl_dir="$venv/asl-validator"
if [[ ! -x "$asl_dir/node_modules/.bin/asl-validator" ]]; then
  mkdir -p "$asl_dir"
  npm install -q --no-audit --no-fund --prefix "$asl_dir" -E asl-validator@3.16.0 >/dev/null
fi
definition="$("$venv/bin/python" - "$template" <<'PY'
import json, sys
from cfnlint.decode import decode
template, matches = decode(sys.argv[1])
if matches:
    sys.exit(f"cannot read {sys.argv[1]}: {matches}")
definition = json.dumps(template["Resources"]["DailyPipeline"]["Properties"]["Definition"])
# DefinitionSubstitutions are filled in at deploy time; any function ARN will do here.
for name in ("IngestArn", "PipelineArn"):
    definition = definition.replace("${%s}" % name, "arn:aws:lambda:eu-central-1:123456789012:function:%s" % name)
print(definition)
PY
)"
"$asl_dir/node_modules/.bin/asl-validator" --json-definition "$definition"
