# Sourced by the benchmark scripts (run.sh, methods.sh): sets `bin` to the adapter-serve binary
# to measure, as an absolute path. ADAPTER_SERVE_BIN names one; otherwise `swift build -c
# release` builds it, logging to $out/build.log. Needs `root`, `out` and `say` from the caller;
# $1 is the caller's name for its error messages.
bench_binary() {
  local caller="$1"
  if [ -n "${ADAPTER_SERVE_BIN:-}" ]; then
    bin="$ADAPTER_SERVE_BIN"
  else
    say "swift build -c release"
    if ! (cd "$root" && swift build -c release >"$out/build.log" 2>&1); then
      tail -20 "$out/build.log" >&2
      echo "$caller: 'swift build -c release' failed (log: $out/build.log); set ADAPTER_SERVE_BIN=/path/to/adapter-serve to benchmark another build" >&2
      exit 1
    fi
    bin="$root/.build/release/adapter-serve"
  fi
  [ -x "$bin" ] || { echo "$caller: $bin is not an executable" >&2; exit 1; }
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
}
