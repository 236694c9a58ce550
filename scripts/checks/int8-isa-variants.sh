#!/usr/bin/env bash
# The int8 prefill product (activations quantised to u8, oneDNN's u8s8s32 GEMM) equals its plain
# reference exactly under every kernel variant this CPU runs, forced with ADAPTER_SERVE_ISA (which
# also caps oneDNN's own dispatch, so a forced run is that machine). Under AVX2, oneDNN adds u8 x s8
# pairs in saturating 16 bits (no VNNI): the check also requires that 8-bit activations do break
# there, which is why that variant quantises to 7 bits. Runs the debug binary scripts/test.sh built.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-.build/debug/adapter-serve}"
[ -x "$bin" ] || { echo "int8-isa-variants: $bin not built (run swift build first)"; exit 1; }
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
for isa in baseline avx2 avx512; do
  case $isa in
    avx2) [[ $flags == *" avx2 "* && $flags == *" fma "* ]] || { echo "int8-isa-variants: $isa not on this CPU"; continue; } ;;
    avx512) [[ $flags == *" avx512bw "* && $flags == *" avx512vl "* && $flags == *" avx512dq "* ]] || { echo "int8-isa-variants: $isa not on this CPU"; continue; } ;;
  esac
  out=$(ADAPTER_SERVE_ISA=$isa "$bin" bench-kernels --verify 2>&1) || { echo "$out"; echo "int8-isa-variants: FAILED under $isa"; exit 1; }
  grep -q "forced by ADAPTER_SERVE_ISA=$isa" <<<"$out" || { echo "$out"; echo "int8-isa-variants: FAILED, $isa was not selected"; exit 1; }
  if [ $isa = avx2 ] && ! grep -qE "8-bit activations: [1-9][0-9]* of .*not used here" <<<"$out"; then
    echo "$out"; echo "int8-isa-variants: FAILED, 8-bit activations did not saturate under avx2 (is oneDNN capped?)"; exit 1
  fi
  echo "int8-isa-variants: $isa ok"
done
