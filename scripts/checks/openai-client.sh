#!/usr/bin/env bash
# The official `openai` Python client (PyPI, in .venv-clients) against a live server on the tiny
# model: completions, chat and models for the base, a LoRA, a soft prompt and both stacked, each
# answer equal to /v1/summarize's for the same encoder input; LangChain's ChatOpenAI and OpenAI too.
# Streamed calls (stream=True, server-sent events) are checked too; OPENAI_CHECK_STREAM=0 leaves them out.
source "$(dirname "$0")/../clients/live-server.sh"
clients_venv
start_server
upload_adapter lora-qv lora-qv
upload_adapter prompt-20 prompt-20
stream=()
[ "${OPENAI_CHECK_STREAM:-1}" = 1 ] && stream=(--stream)
"$PY" scripts/clients/openai_client_check.py --base-url "$BASE_URL" --base-id tiny-flan \
  --dialogues assets/dialogsum/dialogsum.test.jsonl --count 2 \
  --adapters lora-qv prompt-20 lora-qv+prompt-20 "${stream[@]}"
# The server ran with --log-format json: every stderr line is one JSON object, and each request
# line names its request id.
"$PY" - "$SCRATCH/server.log" <<'PY'
import json, sys
objects = [json.loads(line) for line in open(sys.argv[1]).read().splitlines()]
requests = [o for o in objects if o.get("message") == "request"]
assert requests and all(o.get("request_id") for o in requests), "request log lines without request_id"
print(f"ok   {len(objects)} JSON log lines, {len(requests)} request lines with request_id")
PY
