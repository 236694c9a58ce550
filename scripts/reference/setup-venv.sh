#!/usr/bin/env bash
# Creates .venv-ref (git-ignored) with the reference Python stack: torch, transformers, PEFT,
# rouge_score. Only needed to regenerate fixtures or to run the benchmark; CI never runs it.
# torch from PyPI pulls ~5 GB of CUDA wheels; that is expected.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv-ref"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$root/scripts/reference/requirements.txt" "$@"
echo "reference venv ready: $venv"
