#!/usr/bin/env bash
# NF4 against int8 (issue 15, item 4) in one run on the full-size random model: resident memory
# and the decode step time, from `adapter-serve bench` (release build) with 1 and 1+STEPS new
# tokens on a short input, so that step = (T(1+STEPS) - T(1)) / STEPS leaves prefill and the
# first step out. The formats alternate (int8, nf4, int8, nf4, ...) so a drift in this shared
# machine's speed hits both alike. Usage: scripts/bench/nf4_vs_int8.sh [MODEL_DIR] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model="${1:-$root/bench-out/nf4-model}"
rounds="${2:-2}"
steps="${STEPS:-64}"
batch="${BATCH:-1}"
bin="$root/.build/release/adapter-serve"
[ -x "$bin" ] || (cd "$root" && swift build -c release --product adapter-serve)
if [ ! -f "$model/model.safetensors" ]; then
  "$bin" make-random-model --config "$root/assets/flan-t5-base/config.json" --out "$model"
fi
run() {   # format new_tokens -> JSON line
  "$bin" bench --model "$model" --input-tokens 16 --new-tokens "$2" --batch "$batch" --weights "$1" --repeat 3 --json
}
for r in $(seq 1 "$rounds"); do
  for f in int8 nf4; do
    short=$(run "$f" 1); long=$(run "$f" $((steps + 1)))
    python3 - "$f" "$steps" "$short" "$long" <<'PY'
import json, sys
f, steps, short, long = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
step = (long["latency_s"] - short["latency_s"]) / steps
print(json.dumps({"weights": f, "batch": long["batch"], "step_ms": round(step * 1e3, 2),
                  "latency_1_s": round(short["latency_s"], 4), f"latency_{steps + 1}_s": round(long["latency_s"], 4),
                  "weight_mib": round(long["weight_bytes"] / 2**20, 1), "rss_after_load_mib": round(long["rss_after_load_bytes"] / 2**20, 1),
                  "rss_mib": round(long["rss_bytes"] / 2**20, 1), "load_s": round(long["load_s"], 2), "kernels": long["kernels"]}))
PY
  done
done
