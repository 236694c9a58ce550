#!/usr/bin/env bash
# The test command (README and .ci/run): installs build dependencies, runs every Swift test,
# then every check script in scripts/checks/ (tools that are not Swift tests: linters, fuzzers,
# sanitizer runs, real third-party clients). Tests read only what the repository holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build

passed=0
failed=0
failures=()
shopt -s nullglob
for check in scripts/checks/*.sh; do
  echo "=== check: $check"
  if bash "$check"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$check")
  fi
done
if [ "$failed" -gt 0 ]; then
  printf 'failed check: %s\n' "${failures[@]}"
fi
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
