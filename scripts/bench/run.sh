#!/usr/bin/env bash
# One command: AdapterServe vs Hugging Face transformers (PyTorch CPU) vs CTranslate2 on the same
# full-size random FLAN-T5-base checkpoint, in one run, printed as a table of ratios.
#
#   bash scripts/bench/run.sh            # 1 warm-up + median of 3 timed runs per cell
#   bash scripts/bench/run.sh --quick    # 1 warm-up + 1 timed run per cell
#   bash scripts/bench/run.sh --repeat 5
#   bash scripts/bench/run.sh --load       # also the HTTP load benchmark (serve_load.py), ~10 min more
#   bash scripts/bench/run.sh --load-only  # only the HTTP load benchmark (bench-out/serve-load.md)
#
# A re-run is cheap: ADAPTER_SERVE_BIN=/path/to/adapter-serve skips the build, an existing .venv-ref
# that imports torch, transformers, peft and ctranslate2 is used as it is, and everything already
# under bench-out/ is reused. SERVE_LOAD_ARGS passes options to serve_load.py (e.g.
# "--clients 8 --requests 4"; see its --help).
#
# Steps: builds .build/release/adapter-serve (`swift build -c release`) unless ADAPTER_SERVE_BIN
# names a binary; creates .venv-ref (scripts/reference/setup-venv.sh) and adds ctranslate2 to it;
# under bench-out/ (git-ignored; BENCH_OUT overrides) makes, once, the random checkpoint
# (adapter-serve make-random-model with assets/flan-t5-base/config.json), 8 random r=32 q,v LoRAs
# and a 20-token soft prompt (PEFT), the 256-token input (a DialogSum dialogue) and the
# CTranslate2 fp32/int8 conversions; then runs every system in its own process, one after the
# other, and writes bench-out/results.md (the table and the goals) and bench-out/results.json (raw
# numbers); with --load also bench-out/serve-load.md and serve-load.json (serve_load.py).
# Nothing here is committed: no weights leave bench-out/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/bench"
repeat=3
cells=1   # the per-cell table (run_all.py)
load=0    # the HTTP load benchmark (serve_load.py)
max_wait="${BENCH_MAX_WAIT:-60}"   # per run: seconds to wait for other processes to go quiet
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) repeat=1; max_wait="${BENCH_MAX_WAIT:-20}" ;;
    --load) load=1 ;;
    --load-only) load=1; cells=0 ;;
    --repeat) repeat="$2"; shift ;;
    --repeat=*) repeat="${1#--repeat=}" ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (use --quick, --repeat N, --load or --load-only)" >&2; exit 2 ;;
  esac
  shift
done

out="${BENCH_OUT:-$root/bench-out}"
config="${BENCH_CONFIG:-$root/assets/flan-t5-base/config.json}"
data="${BENCH_DATA:-$root/assets/dialogsum/dialogsum.dev.jsonl}"
ct2_version=4.8.5
say() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

for f in "$config" "$data"; do
  if [ ! -f "$f" ]; then
    echo "run.sh: $f is missing (set BENCH_CONFIG / BENCH_DATA to other files)" >&2
    exit 1
  fi
done
mkdir -p "$out"

# 1. The adapter-serve binary.
# shellcheck source=scripts/bench/binary.sh
. "$root/scripts/bench/binary.sh"
bench_binary run.sh

# 2. The reference venv, plus CTranslate2 (an existing complete one is used as it is).
py="$root/.venv-ref/bin/python"
if ! "$py" -c "import torch, transformers, peft" 2>/dev/null; then
  say "reference venv (scripts/reference/setup-venv.sh)"
  bash "$root/scripts/reference/setup-venv.sh" >&2
fi
if ! "$py" -c "import ctranslate2, sys; sys.exit(ctranslate2.__version__ != '$ct2_version')" 2>/dev/null; then
  say "pip install ctranslate2==$ct2_version into .venv-ref"
  "$root/.venv-ref/bin/pip" install --quiet "ctranslate2==$ct2_version"
fi

# 3. Checkpoint, adapters, input, conversions (each made once, into a temporary name, then moved).
model="$out/flan-random"
if [ ! -f "$model/model.safetensors" ]; then
  say "random full-size checkpoint -> $model"
  rm -rf "$model" "$model.tmp" "$out/adapters" "$out/ct2-fp32" "$out/ct2-int8" "$out/input_ids.json"
  "$bin" make-random-model --config "$config" --out "$model.tmp" >&2
  mv "$model.tmp" "$model"
fi
if [ ! -f "$out/adapters/DONE" ]; then
  say "PEFT adapters (8 LoRAs r=32 q,v, 1 soft prompt of 20 tokens) -> $out/adapters"
  rm -rf "$out/adapters" "$out/adapters.tmp"
  "$py" "$here/make_bench_adapters.py" --model "$model" --out "$out/adapters.tmp" 2> >(grep -v -e "Loading weights" -e "tied weights" -e "warnings.warn" >&2)
  mv "$out/adapters.tmp" "$out/adapters"
fi
if [ "$cells" = 1 ] && [ ! -f "$out/input_ids.json" ]; then
  "$py" "$here/bench_reference.py" input-ids --model "$model" --data "$data" --tokens 256 --out "$out/input_ids.json.tmp"
  mv "$out/input_ids.json.tmp" "$out/input_ids.json"
fi
for q in float32:fp32 int8:int8; do
  quant=${q%%:*}; dir="$out/ct2-${q##*:}"
  if [ ! -f "$dir/model.bin" ]; then
    say "CTranslate2 conversion ($quant) -> $dir"
    rm -rf "$dir" "$dir.tmp"
    # convert_ct2.py = ct2-transformers-converter with FLAN's untied output scale fixed (see the file).
    "$py" "$here/convert_ct2.py" --model "$model" --output_dir "$dir.tmp" --quantization "$quant" --force \
      2> >(grep -v -e "Loading weights" -e "tied weights" -e "torch_dtype" >&2)
    mv "$dir.tmp" "$dir"
  fi
done

# 4. Every measurement, sequentially.
if [ "$cells" = 1 ]; then
  say "measuring (repeat $repeat) with $bin"
  "$py" "$here/run_all.py" --bin "$bin" --model "$model" --adapters "$out/adapters" \
    --ct2-fp32 "$out/ct2-fp32" --ct2-int8 "$out/ct2-int8" --ids "$out/input_ids.json" \
    --out "$out" --repeat "$repeat" --max-wait "$max_wait" >/dev/null  # report.py prints the final table

  # Accuracy of the smaller weight formats on this checkpoint (not timed): bf16 and int8 logits
  # against fp32, teacher-forced on fp32's greedy tokens for the same 256-token input.
  say "logit error of bf16/int8 weights against fp32"
  ids=$("$py" -c "import json, sys; print(','.join(map(str, json.load(open(sys.argv[1]))['input_ids'])))" "$out/input_ids.json")
  "$bin" weight-error --model "$model" --input-ids "$ids" --steps 16 --json > "$out/weight-error.json"
fi

# 5. The HTTP load benchmark: the server under 1-16 concurrent clients vs CTranslate2 int8 offline.
if [ "$load" = 1 ]; then
  say "HTTP load benchmark (serve_load.py) with $bin"
  # shellcheck disable=SC2086  # SERVE_LOAD_ARGS is a list of options
  "$py" "$here/serve_load.py" --bin "$bin" --model "$model" --adapters "$out/adapters" \
    --ct2-int8 "$out/ct2-int8" --ct2-fp32 "$out/ct2-fp32" --data "$data" --out "$out" ${SERVE_LOAD_ARGS:-}
fi

# 6. The report: results.md with every goal (the load goal and the logit errors included when
#    measured, in this run or an earlier one).
if [ -f "$out/results.json" ]; then
  "$py" "$here/report.py" "$out/results.json"
fi
