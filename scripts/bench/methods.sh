#!/usr/bin/env bash
# Per-PEFT-method benchmark rows (issue 16): for each method (LoRA, DoRA, AdaLoRA, IA3, prefix
# without projection, soft prompt) B=1 with one adapter and B=8 with 8 different adapters of that
# method, each alternated with the base at the same batch size (--pairs times), with the overhead
# against the base on the fastest runs (the shared machine's load changes by the minute).
#
#   bash scripts/bench/methods.sh                   # int8 and fp32, 2 pairs, 1 warm-up + 2 timed runs
#   bash scripts/bench/methods.sh --weights int8 --pairs 3 --repeat 3
#
# Uses, under bench-out/ (git-ignored; BENCH_OUT overrides), the full-size random checkpoint and
# the 256-token input that run.sh makes (made here the same way when missing), and makes once 8
# random adapters per method with PEFT (make_method_adapters.py) in bench-out/method-adapters/.
# Every cell is one `adapter-serve bench` process (64 new tokens, EOS ignored), one after the
# other. Writes bench-out/methods.md (the table) and bench-out/methods.json (raw numbers).
# ADAPTER_SERVE_BIN names a binary instead of building one; BENCH_PYTHON a Python with torch,
# transformers and peft instead of creating .venv-ref.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/bench"
repeat=2
pairs=2
formats="int8,fp32"
new_tokens=64
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift ;;
    --pairs) pairs="$2"; shift ;;
    --weights) formats="$2"; shift ;;
    --new-tokens) new_tokens="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "methods.sh: unknown argument '$1' (use --repeat N, --pairs N, --weights int8,fp32, --new-tokens N)" >&2; exit 2 ;;
  esac
  shift
done

out="${BENCH_OUT:-$root/bench-out}"
config="${BENCH_CONFIG:-$root/assets/flan-t5-base/config.json}"
data="${BENCH_DATA:-$root/assets/dialogsum/dialogsum.dev.jsonl}"
say() { echo "[methods $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$out"

# shellcheck source=scripts/bench/binary.sh
. "$root/scripts/bench/binary.sh"
bench_binary methods.sh

if [ -n "${BENCH_PYTHON:-}" ]; then
  py="$BENCH_PYTHON"
else
  bash "$root/scripts/reference/setup-venv.sh" >&2
  py="$root/.venv-ref/bin/python"
fi

model="$out/flan-random"
if [ ! -f "$model/model.safetensors" ]; then
  say "random full-size checkpoint -> $model"
  rm -rf "$model.tmp"
  "$bin" make-random-model --config "$config" --out "$model.tmp" >&2
  mv "$model.tmp" "$model"
fi
if [ ! -f "$out/input_ids.json" ]; then
  "$py" "$here/bench_reference.py" input-ids --model "$model" --data "$data" --tokens 256 --out "$out/input_ids.json.tmp"
  mv "$out/input_ids.json.tmp" "$out/input_ids.json"
fi
adapters="$out/method-adapters"
if [ ! -f "$adapters/DONE" ]; then
  say "PEFT adapters, 8 per method -> $adapters"
  rm -rf "$adapters" "$adapters.tmp"
  "$py" "$here/make_method_adapters.py" --model "$model" --out "$adapters.tmp" 2> >(grep -v -e "Loading weights" -e "tied weights" -e "warnings.warn" >&2)
  mv "$adapters.tmp" "$adapters"
fi

say "measuring ($formats, $pairs pairs, repeat $repeat) with $bin"
"$py" "$here/methods_report.py" --bin "$bin" --model "$model" --adapters "$adapters" --ids "$out/input_ids.json" \
  --weights "$formats" --repeat "$repeat" --pairs "$pairs" --new-tokens "$new_tokens" --out "$out"
