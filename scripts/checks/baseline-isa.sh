#!/usr/bin/env bash
# One binary for any x86-64 CPU (issue 13): outside CKernels' per-ISA variants (ck_avx2_*,
# ck_avx512_*), which run only after cpuid/xgetbv say the CPU has them, the adapter-serve binary
# must hold no instruction beyond baseline x86-64: no VEX/EVEX (AVX, AVX2, FMA, AVX-512), no
# BMI/LZCNT/POPCNT, no SSE4. (LLVM's `rep bsf`, which objdump shows as tzcnt, is allowed: older
# CPUs run it as bsf, and LLVM emits it only where the two agree.) A stray `-target-cpu` flag or an unguarded intrinsic fails here
# instead of as SIGILL on an older machine. Disassembles the debug binary scripts/test.sh built.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v objdump >/dev/null || { echo "baseline-isa: objdump missing (binutils, see scripts/install-deps.sh)"; exit 1; }
bin="${1:-.build/debug/adapter-serve}"
[ -x "$bin" ] || { echo "baseline-isa: $bin not built (run swift build first)"; exit 1; }
report=$(objdump -d --no-show-raw-insn "$bin" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
  fn ~ /^<ck_(avx2|avx512)_/ { next }
  /^ +[0-9a-f]+:/ {
    insn = $2
    if (insn ~ /^v/ || $0 ~ /%[yz]mm[0-9]|%k[0-7]/ ||
        insn ~ /^(andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|popcnt)$/ ||
        insn ~ /^(roundps|roundss|roundpd|roundsd|blendvps|blendvpd|pblendvb|blendps|pblendw|pminsd|pmaxsd|pminud|pmaxud|pmulld|ptest|pextrd|pextrq|pinsrd|pinsrq|pcmpeqq|pcmpgtq|pmovsx..|pmovzx..|insertps|dpps|packusdw|crc32)$/) {
      count[fn]++; if (!(fn in first)) first[fn] = $0
    }
  }
  END { for (f in count) printf "%s: %d instruction(s) beyond x86-64, e.g.%s\n", f, count[f], first[f] }')
if [ -n "$report" ]; then
  echo "baseline-isa: FAILED, code outside the dispatched kernels needs a newer CPU:"
  echo "$report" | head -20
  exit 1
fi
variants=$(objdump -t "$bin" | grep -cE ' ck_(avx2|avx512)_' || true)
[ "$variants" -gt 0 ] || { echo "baseline-isa: FAILED, no ck_avx2_/ck_avx512_ variants found in $bin"; exit 1; }
echo "baseline-isa: ok ($variants dispatched AVX2/AVX-512 kernel symbols; everything else is baseline x86-64)"
