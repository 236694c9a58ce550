#!/usr/bin/env bash
# libFuzzer over every parser of untrusted input (issue 11, item 7): safetensors headers,
# adapter_config.json, multipart, tar/gzip, JSON request bodies, the tokenizer (encode and load).
#
# Builds only the Fuzz* products with -sanitize=fuzzer,address in their own scratch path
# (.build-fuzz: the fuzzer flag cannot build the CLI's main.swift), then runs each target for
# FUZZ_SECONDS (default 30) from its committed seed corpus in Tests/Fuzz/corpus/<target>.
# Any crash, sanitizer report, leak, per-input timeout or out-of-memory fails the check; the
# input that did it is left in .build-fuzz/artifacts/<target>/ and can be replayed with the
# ordinary build: `swift run <Product> .build-fuzz/artifacts/<target>/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh

seconds="${FUZZ_SECONDS:-30}"
scratch=.build-fuzz
# target folder name : product
targets=(
  "safetensors:FuzzSafeTensors"
  "peft-config:FuzzPEFTConfig"
  "multipart:FuzzMultipart"
  "tar:FuzzTar"
  "json-body:FuzzJSONBody"
  "tokenizer-encode:FuzzTokenizerEncode"
  "tokenizer-load:FuzzTokenizerLoad"
)
# LeakSanitizer cannot follow references that Swift stores in a multi-payload enum (the case tag
# lives in the pointer's spare bits). The JSON target runs the whole service, whose metrics
# registry (swift-prometheus) keeps its metrics that way, so LSan reports them as "direct leaks"
# of objects that are in fact alive for the process (e.g. the histogram buckets made once in
# Metrics.init). Leak checking stays on for every other target; -rss_limit_mb still catches a
# memory blow-up here. (Both switches are needed: libFuzzer's per-input check and ASan's at exit.)
declare -A leaks=( ["json-body"]=0 )
flags=(--scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING)

mkdir -p "$scratch"
start=$(date +%s)
for entry in "${targets[@]}"; do
  product="${entry#*:}"
  # The linker warns about every ASan helper symbol: keep the log, show only the outcome.
  if ! swift build "${flags[@]}" --product "$product" > "$scratch/build-$product.log" 2>&1; then
    grep -v "Cannot export local symbol" "$scratch/build-$product.log" | tail -30
    echo "fuzz: building $product failed"
    exit 1
  fi
done
bin="$(swift build "${flags[@]}" --show-bin-path)"
echo "fuzz: built in $(( $(date +%s) - start )) s"

failed=()
for entry in "${targets[@]}"; do
  name="${entry%%:*}"
  product="${entry#*:}"
  # FUZZ_ONLY=json-body,tar runs a subset (to reproduce one target's finding).
  [ -z "${FUZZ_ONLY:-}" ] || [[ ",$FUZZ_ONLY," == *",$name,"* ]] || continue
  seeds="Tests/Fuzz/corpus/$name"
  work="$scratch/corpus/$name"          # grows run after run; never committed
  artifacts="$scratch/artifacts/$name/"
  [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "fuzz: seed corpus $seeds is missing"; exit 1; }
  mkdir -p "$work" "$artifacts"
  echo "=== fuzz $name ($product, ${seconds} s)"
  t0=$(date +%s)
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a memory blow-up is a finding.
  leak="${leaks[$name]:-1}"
  if ASAN_OPTIONS="detect_leaks=$leak" "$bin/$product" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -detect_leaks="$leak" -artifact_prefix="$artifacts" -print_final_stats=1 \
       > "$scratch/$name.log" 2>&1; then
    echo "fuzz $name: ok in $(( $(date +%s) - t0 )) s; $(grep -E '^stat::number_of_executed_units' "$scratch/$name.log" | awk '{print $2}') inputs, corpus $(ls "$work" | wc -l)"
  else
    echo "fuzz $name: FAILED (log $scratch/$name.log, input in $artifacts)"
    grep -E "ERROR|SUMMARY|Fatal error|panic|Test unit written" "$scratch/$name.log" | head -20 || true
    failed+=("$name")
  fi
done
echo "fuzz: total $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}"
  exit 1
fi
