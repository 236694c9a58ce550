#!/usr/bin/env bash
# The test command (README and .ci/run): installs build dependencies, then runs every test.
# Tests read committed fixtures and ../shared; nothing is downloaded and nothing is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
