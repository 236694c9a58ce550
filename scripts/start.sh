#!/usr/bin/env bash
# The main command: installs dependencies, builds the release binary and starts the service
# with config/adapter-serve.json (override any setting with ADAPTER_SERVE_* variables or flags
# passed through, e.g. `bash scripts/start.sh --port 9000`).
#
# The model is read from models/flan-t5-base (a google/flan-t5-base snapshot; see README,
# "Getting the model"). When it is missing the script says how to get it and, so that the API
# can still be tried, starts on the small random test model in Tests/Fixtures (its summaries
# are meaningless).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product adapter-serve
model="${ADAPTER_SERVE_MODEL:-models/flan-t5-base}"
args=(serve --config config/adapter-serve.json)
if [ ! -f "$model/config.json" ] || { [ ! -f "$model/model.safetensors" ] && [ ! -f "$model/model.safetensors.index.json" ]; }; then
  cat >&2 <<MSG
No FLAN-T5-base weights at $model.
Get them once (about 1 GB) with:
  pip install -U huggingface_hub && huggingface-cli download google/flan-t5-base --local-dir $model
Starting now on the tiny random test model instead (demo mode: the API works, summaries are noise).
MSG
  args+=(--model Tests/Fixtures/models/tiny-flan --tokenizer assets/flan-t5-base --adapters adapters-demo)
fi
exec .build/release/adapter-serve "${args[@]}" "$@"
