# Sourced by scripts/checks/openai-client.sh and schemathesis.sh: the PyPI clients' venv and a
# real adapter-serve (debug build) on the tiny fixture model, bound to a free port (--port 0,
# read back from its "listening on" line), with a temporary adapters directory. The server is
# stopped and the scratch directory removed when the calling script exits.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# .venv-clients (git-ignored) with scripts/clients/requirements.txt; pip skips what is installed.
clients_venv() {
  local venv="$root/.venv-clients"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
  fi
  "$venv/bin/pip" install --quiet -r "$root/scripts/clients/requirements.txt"
  PY="$venv/bin/python"
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
  fi
  [ -n "${SCRATCH:-}" ] && rm -rf "$SCRATCH"
}

# Sets BASE_URL, SERVER_PID, SCRATCH; the server's stderr (JSON log lines) is $SCRATCH/server.log.
start_server() {
  swift build --product adapter-serve >/dev/null
  SCRATCH="$(mktemp -d)"
  trap stop_server EXIT
  "$root/.build/debug/adapter-serve" serve --model Tests/Fixtures/models/tiny-flan --tokenizer assets/flan-t5-base \
    --adapters "$SCRATCH/adapters" --port 0 --log-format json "$@" >"$SCRATCH/stdout" 2>"$SCRATCH/server.log" &
  SERVER_PID=$!
  local line=""
  # Wait for the "listening on" line; give up if the process dies.
  while [ -z "$line" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SCRATCH/server.log" >&2; echo "adapter-serve exited before listening" >&2; return 1; }
    line="$(grep -m1 '^listening on http://' "$SCRATCH/stdout" || true)"
    [ -n "$line" ] || sleep 0.1
  done
  BASE_URL="${line#listening on }"
}

# Uploads a fixture adapter directory under a name.
upload_adapter() {
  local name="$1" dir="Tests/Fixtures/models/tiny-flan/adapters/$2"
  curl -sf -o /dev/null -X PUT "$BASE_URL/v1/adapters/$name" \
    -F "adapter_config.json=@$dir/adapter_config.json" -F "adapter_model.safetensors=@$dir/adapter_model.safetensors"
}
