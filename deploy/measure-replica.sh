#!/usr/bin/env bash
# Measures what one replica needs, for the resource requests/limits in deploy/k8s and the README:
# resident memory after loading (VmRSS) and at its peak while serving (VmHWM), and the cores it
# uses while serving a few concurrent summaries. The model is a random checkpoint with
# FLAN-T5-base's exact shapes (same memory and compute as the real weights).
#
#   bash deploy/measure-replica.sh [--model DIR] [--requests N] [--concurrency C] [--new-tokens T]
#
# Loopback only; the server binds port 0. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
model="" requests=6 concurrency=3 new_tokens=32
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --new-tokens) new_tokens="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
bin=.build/release/adapter-serve
[ -x "$bin" ] || swift build -c release --product adapter-serve >&2
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "$model" ]; then
  model="$work/flan-t5-base-random"
  "$bin" make-random-model --config assets/flan-t5-base/config.json --out "$model" >&2
fi
touch "$work/out" "$work/err"
"$bin" serve --model "$model" --adapters "$work/adapters" --port 0 >"$work/out" 2>"$work/err" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/out")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.5
done
[ -n "$port" ] || { echo "server did not become ready" >&2; exit 1; }
status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_loaded=$(status_kib VmRSS)
hwm_loaded=$(status_kib VmHWM)
dialogue=$(head -1 assets/dialogsum/dialogsum.test.jsonl | python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["dialogue"]))')
body="{\"dialogue\": $dialogue, \"parameters\": {\"max_new_tokens\": $new_tokens, \"min_new_tokens\": $new_tokens}}"
ticks0=$(cpu_ticks)
t0=$(date +%s.%N)
seq 1 "$requests" | xargs -P "$concurrency" -I{} curl -sS -o /dev/null -w '%{http_code}\n' \
  -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/v1/summarize" >"$work/codes"
t1=$(date +%s.%N)
ticks1=$(cpu_ticks)
ok=$(grep -c '^200$' "$work/codes" || true)
python3 - "$rss_loaded" "$hwm_loaded" "$(status_kib VmRSS)" "$(status_kib VmHWM)" "$ticks0" "$ticks1" "$t0" "$t1" "$(getconf CLK_TCK)" \
  "$requests" "$ok" "$concurrency" "$new_tokens" <<'PY'
import json, sys
loaded, loadpeak, rss, hwm, k0, k1, t0, t1, hz, n, ok, c, new = sys.argv[1:]
wall = float(t1) - float(t0)
print(json.dumps({
    "weights": "fp32", "rss_after_load_mib": round(int(loaded) / 1024), "peak_rss_while_loading_mib": round(int(loadpeak) / 1024),
    "rss_after_requests_mib": round(int(rss) / 1024),
    "peak_rss_mib": round(int(hwm) / 1024), "requests": int(n), "ok": int(ok), "concurrency": int(c),
    "new_tokens": int(new), "seconds": round(wall, 2), "summaries_per_second": round(int(ok) / wall, 3),
    "cores_used": round((int(k1) - int(k0)) / int(hz) / wall, 2)}))
PY
