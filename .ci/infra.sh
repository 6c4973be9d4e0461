#!/usr/bin/env bash
# Infrastructure checks, offline: cfn-lint (CloudFormation/SAM validation)
# and checkov (security policy) over infra/template.yaml. Fails on any
# cfn-lint error or warning and on any failed checkov check; a check is
# suppressed only in the template, with a written reason.
#
# The tools live in their own virtualenv (default
# ~/.cache/voronka/infra-venv, override with VORONKA_INFRA_VENV): checkov
# pins boto3/botocore versions that would break an awscli installed in the
# same Python. First run installs them from PyPI (~70 s measured); later
# runs take ~10 s.
set -euo pipefail
cd "$(dirname "$0")/.."

template=infra/template.yaml
venv="${VORONKA_INFRA_VENV:-$HOME/.cache/voronka/infra-venv}"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "infra tools"
if [[ ! -x "$venv/bin/cfn-lint" || ! -x "$venv/bin/checkov" ]]; then
  started=$SECONDS
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check cfn-lint checkov
  echo "installed cfn-lint and checkov into $venv in $((SECONDS - started)) s"
fi
"$venv/bin/cfn-lint" --version
"$venv/bin/checkov" --version

step "cfn-lint $template"
"$venv/bin/cfn-lint" "$template"

step "checkov $template"
"$venv/bin/checkov" -f "$template" --framework cloudformation --skip-download --compact --quiet
