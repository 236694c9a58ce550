#!/usr/bin/env bash
# The main command: installs dependencies, builds the release binary and starts the service
# with config/adapter-serve.json (override any setting with ADAPTER_SERVE_* variables or flags
# passed through, e.g. `bash scripts/start.sh --port 9000`).
#
# The model is read from models/flan-t5-base. When its weights are missing, the script fetches
# google/flan-t5-base (about 1 GB, resumable) from the Hugging Face Hub with `adapter-serve pull`
# (HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured), then serves it. When the Hub cannot
# be reached (a connection attempt gives up after a few seconds) or the pull fails, it says so
# and starts demo mode instead: the small random test model in Tests/Fixtures with the real
# FLAN-T5-base tokenizer from assets/ and a demo LoRA routed to the default task. The API then
# works end to end, but summaries are noise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product adapter-serve
bin=.build/release/adapter-serve
model="${ADAPTER_SERVE_MODEL:-models/flan-t5-base}"
args=(serve --config config/adapter-serve.json)

has_weights() {
  [ -f "$model/config.json" ] && { [ -f "$model/model.safetensors" ] || [ -f "$model/model.safetensors.index.json" ]; }
}

if ! has_weights; then
  echo "No FLAN-T5-base weights at $model: pulling google/flan-t5-base from the Hugging Face Hub." >&2
  status=0
  "$bin" pull google/flan-t5-base --dir "$model" --connect-timeout "${PULL_CONNECT_TIMEOUT:-5}" || status=$?
  if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 3 ]; then
      echo "The Hugging Face Hub cannot be reached from this machine." >&2
    else
      echo "The pull did not complete (see the error above; run 'bash scripts/start.sh' again to resume)." >&2
    fi
    demo_adapters=adapters-demo
    if [ ! -f "$demo_adapters/demo-lora/adapter_config.json" ]; then
      # An adapter added by hand (see adapters/README.md), routed to the default task.
      mkdir -p "$demo_adapters/demo-lora" "$demo_adapters/.adapter-serve"
      cp Tests/Fixtures/models/tiny-flan/adapters/lora-qv/adapter_config.json \
         Tests/Fixtures/models/tiny-flan/adapters/lora-qv/adapter_model.safetensors "$demo_adapters/demo-lora/"
      [ -f "$demo_adapters/.adapter-serve/routes.json" ] ||
        printf '{"tasks": {"dialogsum": "demo-lora"}}\n' > "$demo_adapters/.adapter-serve/routes.json"
    fi
    cat >&2 <<MSG
Starting in DEMO MODE: the tiny random test model (Tests/Fixtures/models/tiny-flan) with the
FLAN-T5-base tokenizer (assets/flan-t5-base) and the adapter 'demo-lora' on task 'dialogsum'.
The API works; the summaries are noise. Get the real model with:
  $bin pull google/flan-t5-base --dir $model
MSG
    args+=(--model Tests/Fixtures/models/tiny-flan --tokenizer assets/flan-t5-base --adapters "$demo_adapters")
  fi
fi
exec "$bin" "${args[@]}" "$@"
