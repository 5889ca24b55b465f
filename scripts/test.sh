#!/usr/bin/env bash
# The whole test suite: the package's tests, then the example packages built against this
# checkout: the one that adds its own layer (Examples/CustomLayer), and the library tour of
# docs/library.md (Examples/Library), which trains, predicts and must name setosa; then the
# Python package's tests (scripts/python-tests.sh), the model server spoken to by Triton's
# client (scripts/serve-tests.sh), and the training board in headless Chromium
# (scripts/monitor-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
swift test
echo "== the examples (at ${SECONDS} s)"
# The two examples share one build folder: the second reuses the SwiftCaffe the first built.
swift test --package-path Examples/CustomLayer --scratch-path .build-examples
tour=$(swift run --package-path Examples/Library --scratch-path .build-examples iris-from-code "$PWD")
echo "$tour"
grep -q "flower 0: setosa" <<< "$tour"
echo "== the Python tests (at ${SECONDS} s)"
scripts/python-tests.sh
echo "== the server's client tests (at ${SECONDS} s)"
scripts/serve-tests.sh
echo "== the board in a browser (at ${SECONDS} s)"
scripts/monitor-tests.sh
