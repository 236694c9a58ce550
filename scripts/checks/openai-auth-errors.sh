#!/usr/bin/env bash
# Issue 18: the official openai Python client (an independent reference) reads our 401 on the
# OpenAI-compatible paths as its own AuthenticationError, with OpenAI's error fields. Uses the
# clients' venv and live server of scripts/clients/live-server.sh, with a key and a token set.
source "$(dirname "$0")/../clients/live-server.sh"
clients_venv
ADAPTER_SERVE_API_KEYS=check-key-1 ADAPTER_SERVE_ADMIN_TOKEN=check-admin-1 start_server
"$PY" - "$BASE_URL" <<'PY'
import sys
import openai

base = sys.argv[1] + "/v1"
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
