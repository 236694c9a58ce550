#!/usr/bin/env bash
# Issue 18: the official openai Python client (an independent reference) reads our 401 on the
# OpenAI-compatible paths as its own AuthenticationError, with OpenAI's error fields. Creates
# .venv-auth (pip: openai) once; runs the debug binary that `swift build` made.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-auth
if ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'openai==3.51.0'
fi
bin=.build/debug/adapter-serve
[ -x "$bin" ] || swift build --product adapter-serve
scratch=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
ADAPTER_SERVE_API_KEYS=check-key-1 ADAPTER_SERVE_ADMIN_TOKEN=check-admin-1 "$bin" serve \
  --model Tests/Fixtures/models/tiny-flan --tokenizer assets/flan-t5-base --adapters "$scratch/adapters" \
  --host 127.0.0.1 --port 0 >"$scratch/out" 2>"$scratch/err" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$scratch/out")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$scratch/err" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not start" >&2; cat "$scratch/err" >&2; exit 1; }
"$venv/bin/python" - "$port" <<'PY'
import sys
import openai

base = f"http://127.0.0.1:{sys.argv[1]}/v1"
calls = {
    "models.list": lambda c: c.models.list(),
    "chat.completions.create": lambda c: c.chat.completions.create(model="flan-t5-base", messages=[{"role": "user", "content": "hi"}]),
    "completions.create": lambda c: c.completions.create(model="flan-t5-base", prompt="hi"),
}
for name, call in calls.items():
    client = openai.OpenAI(base_url=base, api_key="check-key-X", max_retries=0)
    try:
        call(client)
        raise SystemExit(f"{name}: a wrong key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401, (name, e.status_code)
        assert e.code == "invalid_api_key" and e.type == "invalid_request_error" and e.param is None, (name, e.body)
        assert set(e.body) == {"message", "type", "param", "code"}, (name, e.body)
        assert "check-key" not in str(e.body), (name, e.body)
    # The right key (or the admin token) passes the gate: whatever the route answers, it is not a 401.
    for key in ("check-key-1", "check-admin-1"):
        client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
        try:
            call(client)
        except openai.AuthenticationError as e:
            raise SystemExit(f"{name}: a valid key was refused: {e.body}")
        except openai.APIStatusError:
            pass
    print(f"ok {name}")
PY
