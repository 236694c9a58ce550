#!/usr/bin/env bash
# ThreadSanitizer over the suites that exercise threads (issue 11, item 7): the worker pool, the engine and
# registry concurrency tests and every live-server suite (libmicrohttpd connection threads,
# the engine thread, adapter swaps under load, drain). Builds with --sanitize=thread in its own
# scratch path (.build-tsan) so the ordinary build is untouched. Any race report fails the run
# (TSan's exit code 66). scripts/checks/tsan.supp silences only the uninstrumented C libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh

scratch=.build-tsan
filter="${TSAN_FILTER:-APITests\.|LiveServerTests|CLITests|WorkerPoolTests}"
mkdir -p "$scratch"
start=$(date +%s)
swift build --build-tests --sanitize=thread --scratch-path "$scratch" > "$scratch/tsan-build.log" 2>&1 || {
  tail -40 "$scratch/tsan-build.log"; echo "tsan: build failed"; exit 1; }
echo "tsan: built in $(( $(date +%s) - start )) s"

t0=$(date +%s)
export TSAN_OPTIONS="suppressions=$PWD/scripts/checks/tsan.supp halt_on_error=0 exitcode=66 second_deadlock_stack=1 history_size=4"
status=0
# The run takes 5-8 minutes; the bound turns a hung test into a failure that names itself (the
# log then ends at the tests still running) instead of one that eats CI's time limit.
timeout --kill-after=30 "${TSAN_TIMEOUT:-1800}" \
  swift test --skip-build --sanitize=thread --scratch-path "$scratch" --filter "$filter" > "$scratch/tsan-test.log" 2>&1 || status=$?
[ "$status" -eq 124 ] && echo "tsan: the test run did not finish within ${TSAN_TIMEOUT:-1800} s (a hung test)"
races=$(grep -c "WARNING: ThreadSanitizer" "$scratch/tsan-test.log" || true)
grep -E "^(Test run|􁁛|✔|✘|􀢄)|passed after|failed after" "$scratch/tsan-test.log" | tail -5 || true
echo "tsan: tests ran in $(( $(date +%s) - t0 )) s; $races ThreadSanitizer reports (log $scratch/tsan-test.log)"
if [ "$races" -gt 0 ]; then
  grep -A30 "WARNING: ThreadSanitizer" "$scratch/tsan-test.log" | head -120
  exit 1
fi
if [ "$status" -ne 0 ]; then
  # The failing test's own lines first (swift-testing marks them ✘, XCTest "error:"), with the
  # recorded expectation that follows each, then the end of the log.
  grep -n -A6 -E "✘|error:|Fatal error|recorded an issue" "$scratch/tsan-test.log" | head -150 || true
  tail -20 "$scratch/tsan-test.log"
  echo "tsan: tests failed (exit $status)"; exit 1
fi
