#!/usr/bin/env bash
# Creates .venv-nf4 (git-ignored) holding bitsandbytes, whose NF4 quantiser is the reference for
# `--weights nf4` (scripts/reference/make_nf4_fixtures.py). bitsandbytes needs torch: rather than
# pull a second copy of torch, this venv sees the reference venv's packages through a .pth file,
# so run scripts/reference/setup-venv.sh first (or pass REF_VENV=/path/to/that venv).
# Only needed to regenerate the NF4 fixture; CI never runs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref="${REF_VENV:-$root/.venv-ref}"
venv="$root/.venv-nf4"
[ -x "$ref/bin/python" ] || { echo "no reference venv at $ref: run scripts/reference/setup-venv.sh" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  "$ref/bin/python" -m venv "$venv"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
refsite=$("$ref/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$refsite" > "$site/reference-venv.pth"
"$venv/bin/pip" install --quiet --no-deps bitsandbytes==0.50.2
echo "nf4 reference venv ready: $venv"
