#!/usr/bin/env bash
# A local cluster to try scale-out on one machine: N replicas of the release binary (3 by
# default) on loopback ports over ONE shared adapters directory, behind HAProxy on loopback.
# Ctrl-C stops everything (replicas drain on SIGTERM).
#
#   bash deploy/local-cluster.sh [--model DIR] [--tokenizer DIR] [--adapters DIR] [--replicas N]
#                                [--lb-port PORT] [--smoke | --bench REQUESTS [--new-tokens T]]
#
# Without --model it serves the tiny random demo model (Tests/Fixtures/models/tiny-flan, tokenizer
# assets/flan-t5-base): every endpoint works, summaries are noise. --smoke sends summaries through
# HAProxy, checks each is 200 and that every replica answered, then stops. --bench sends REQUESTS
# concurrent summaries of a DialogSum dialogue through HAProxy and prints the throughput.
#
# The replicas share the adapters directory: an upload, replacement, deletion or activation made
# through any of them reaches the others within one store poll (store_poll_seconds, 1 s). In demo
# mode --smoke also uploads a fixture adapter through HAProxy and checks every replica serves it.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=0 model="" tokenizer="" adapters="" replicas=3 lb_port=8100 mode=interactive bench_requests=0 new_tokens=32
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --tokenizer) tokenizer="$2"; shift 2 ;;
    --adapters) adapters="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --lb-port) lb_port="$2"; shift 2 ;;
    --smoke) mode=smoke; shift ;;
    --bench) mode=bench; bench_requests="$2"; shift 2 ;;
    --new-tokens) new_tokens="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || { echo "--replicas must be 1..99" >&2; exit 64; }
if [ -z "$model" ]; then
  model=Tests/Fixtures/models/tiny-flan
  demo=1
  tokenizer="${tokenizer:-assets/flan-t5-base}"
  echo "demo mode: tiny random model $model (summaries are noise); pass --model DIR for real weights"
fi

# HAProxy from Debian, installed once.
if ! command -v haproxy >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq haproxy >/dev/null
fi
bin=.build/release/adapter-serve
[ -x "$bin" ] || swift build -c release --product adapter-serve
if [ "$lb_port" = 0 ]; then
  lb_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

work=$(mktemp -d -t adapter-serve-cluster.XXXXXX)
adapters="${adapters:-$work/adapters}"
mkdir -p "$adapters"
pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_all EXIT
trap 'echo; echo "stopping (replicas drain)"; exit 0' INT TERM

# Replicas: port 0 picks free loopback ports; each prints "listening on URL" once loaded.
args=(serve --config config/adapter-serve.json --host 127.0.0.1 --port 0 --model "$model" --adapters "$adapters")
[ -n "$tokenizer" ] && args+=(--tokenizer "$tokenizer")
for i in $(seq 1 "$replicas"); do
  : >"$work/replica-$i.out"
  "$bin" "${args[@]}" >"$work/replica-$i.out" 2>"$work/replica-$i.log" &
  pids+=($!)
done
ports=()
for i in $(seq 1 "$replicas"); do
  port=""
  for _ in $(seq 1 1200); do
    port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/replica-$i.out")
    [ -n "$port" ] && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { echo "replica $i failed:" >&2; cat "$work/replica-$i.log" >&2; exit 1; }
    sleep 0.25
  done
  [ -n "$port" ] || { echo "replica $i did not become ready" >&2; exit 1; }
  ports+=("$port")
done

{
  cat <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout http-request 30s
    timeout client 330s
    timeout server 330s
frontend http
    bind 127.0.0.1:$lb_port
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-response set-header X-Served-By %s
    default-server inter 1s fall 2 rise 1 check
CFG
  for i in $(seq 1 "$replicas"); do echo "    server replica-$i 127.0.0.1:${ports[$((i - 1))]}"; done
} >"$work/haproxy.cfg"
haproxy -q -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
lb="http://127.0.0.1:$lb_port"
# Every replica is loaded (it printed "listening on"); wait until HAProxy forwards.
up=""
for _ in $(seq 1 240); do
  up=$(curl -s -o /dev/null -w '%{http_code}' "$lb/readyz" || true)
  [ "$up" = 200 ] && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "haproxy failed:" >&2; cat "$work/haproxy.log" >&2; exit 1; }
  sleep 0.25
done
[ "$up" = 200 ] || { echo "HAProxy never answered /readyz 200" >&2; cat "$work/haproxy.log" >&2; exit 1; }

summary_body() {
  local dialogue
  dialogue=$(head -1 assets/dialogsum/dialogsum.test.jsonl | python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["dialogue"]))')
  echo "{\"dialogue\": $dialogue, \"parameters\": {\"max_new_tokens\": $1, \"min_new_tokens\": $1}}"
}

case "$mode" in
  interactive)
    echo "replicas: ${ports[*]/#/127.0.0.1:} (adapters: $adapters)"
    echo "HAProxy:  $lb   (logs in $work)"
    echo "try:      curl -s $lb/v1/summarize -H 'Content-Type: application/json' -d '{\"dialogue\": \"#Person1#: Hi.\\n#Person2#: Hello.\"}'"
    echo "Ctrl-C stops everything."
    wait "${pids[-1]}"
    ;;
  smoke)
    body=$(summary_body 8)
    served=()
    for _ in $(seq 1 $((replicas * 2))); do
      headers=$(curl -sS -o "$work/answer.json" -D - -w '%{http_code}\n' -H 'Content-Type: application/json' -d "$body" "$lb/v1/summarize")
      code=$(tail -1 <<<"$headers")
      [ "$code" = 200 ] || { echo "summary through HAProxy answered $code: $(cat "$work/answer.json")" >&2; exit 1; }
      python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert isinstance(d["summary"], str) and d["usage"]["output_tokens"] == 8, d' "$work/answer.json"
      served+=("$(tr -d '\r' <<<"$headers" | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p')")
    done
    distinct=$(printf '%s\n' "${served[@]}" | sort -u | grep -c .)
    echo "smoke: $((replicas * 2)) summaries through HAProxy answered 200, served by $distinct of $replicas replicas (${served[*]})"
    [ "$distinct" = "$replicas" ] || { echo "not every replica served" >&2; exit 1; }
    if [ "$demo" = 1 ]; then
      # An upload through HAProxy lands on one replica; the shared store brings it to the rest.
      fixture=Tests/Fixtures/models/tiny-flan/adapters/lora-qv
      name="smoke-$$"
      code=$(curl -sS -o "$work/answer.json" -w '%{http_code}' -X PUT -F "adapter_config.json=@$fixture/adapter_config.json" \
        -F "adapter_model.safetensors=@$fixture/adapter_model.safetensors" "$lb/v1/adapters/$name")
      [ "$code" = 201 ] || { echo "upload through HAProxy answered $code: $(cat "$work/answer.json")" >&2; exit 1; }
      t0=$(date +%s.%N)
      for port in "${ports[@]}"; do
        for _ in $(seq 1 600); do
          [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/adapters/$name")" = 200 ] && continue 2
          sleep 0.05
        done
        echo "the upload never reached the replica on port $port" >&2; exit 1
      done
      delay=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
      body=$(summary_body 8 | python3 -c "import json,sys; d = json.load(sys.stdin); d['adapter'] = '$name'; d['return_token_ids'] = True; print(json.dumps(d))")
      served=() ids=()
      for _ in $(seq 1 $((replicas * 2))); do
        headers=$(curl -sS -o "$work/answer.json" -D - -w '%{http_code}\n' -H 'Content-Type: application/json' -d "$body" "$lb/v1/summarize")
        code=$(tail -1 <<<"$headers")
        [ "$code" = 200 ] || { echo "summary with the uploaded adapter answered $code: $(cat "$work/answer.json")" >&2; exit 1; }
        ids+=("$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["adapter"]["name"] == sys.argv[2], d; print(d["token_ids"])' "$work/answer.json" "$name" | tr -d ' ')")
        served+=("$(tr -d '\r' <<<"$headers" | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p')")
      done
      distinct=$(printf '%s\n' "${served[@]}" | sort -u | grep -c .)
      variants=$(printf '%s\n' "${ids[@]}" | sort -u | grep -c .)
      echo "smoke: adapter $name uploaded through HAProxy reached all $replicas replicas within ${delay} s; $((replicas * 2)) summaries with it served by $distinct replicas, token ids identical: $([ "$variants" = 1 ] && echo yes || echo no)"
      [ "$distinct" = "$replicas" ] && [ "$variants" = 1 ] || { echo "the uploaded adapter was not served identically by every replica" >&2; exit 1; }
    fi
    ;;
  bench)
    body=$(summary_body "$new_tokens")
    # CPU time of the replicas (utime + stime, all threads): on a shared machine the wall-clock
    # rate depends on what else runs, CPU seconds per summary much less.
    cpu_ticks() { local t=0 pid; for pid in "${pids[@]:0:$replicas}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
    c0=$(cpu_ticks)
    t0=$(python3 -c 'import time; print(time.time())')
    seq 1 "$bench_requests" | xargs -P "$bench_requests" -I{} curl -sS -o /dev/null -w '%{http_code}\n' \
      -H 'Content-Type: application/json' -d "$body" "$lb/v1/summarize" >"$work/codes"
    t1=$(python3 -c 'import time; print(time.time())')
    c1=$(cpu_ticks)
    ok=$(grep -c '^200$' "$work/codes" || true)
    python3 - "$replicas" "$ok" "$bench_requests" "$(python3 -c "print($t1 - $t0)")" "$new_tokens" "$((c1 - c0))" "$(getconf CLK_TCK)" <<'PY'
import os, sys
r, ok, n, t, new, ticks, hz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
cpu = ticks / hz
print(f"bench: {r} replica(s), {n} concurrent summaries ({new} new tokens each) through HAProxy: {ok} answered 200 "
      f"in {t:.2f} s = {ok / t:.3f} summaries/s; replicas used {cpu:.1f} CPU s ({cpu / t:.2f} cores, "
      f"{cpu / max(ok, 1):.2f} CPU s per summary); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
PY
    [ "$ok" = "$bench_requests" ]
    ;;
esac
