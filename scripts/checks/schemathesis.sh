#!/usr/bin/env bash
# Contract test: schemathesis (PyPI, in .venv-clients) generates requests from openapi.json for
# every operation and sends them to a live server on the tiny model. Fails on any 5xx (a 503 must
# carry Retry-After, which the document requires), an undocumented status, content type or
# header, or a body that does not match its schema. Bounded: the documented examples, at most 15
# generated cases per operation and the stateful links, with a fixed seed, so the run is a few
# hundred requests and repeatable. (The boundary-value "coverage" phase is left out because it
# is not bounded by --max-examples: about a thousand cases.)
source "$(dirname "$0")/../clients/live-server.sh"
clients_venv
"$PY" scripts/clients/make_openapi.py --check Sources/API/openapi.json
start_server
upload_adapter lora-qv lora-qv
upload_adapter prompt-20 prompt-20
"$PY" -m schemathesis.cli run openapi.json --url "$BASE_URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,fuzzing,stateful --max-examples 15 --seed 14 --generation-database none --workers 1 --no-color \
  --report junit --report-dir "$SCRATCH/report"
