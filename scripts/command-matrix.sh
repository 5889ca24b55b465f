#!/usr/bin/env bash
# Every command that takes a net (summary, draw, time, gradcheck, train, test, convert to YAML,
# to a deploy prototxt and to caffemodel weights, classify, visualize, jvp, sample) on every
# net in nets/, through the real binary, on small cuts of the nets' data sets; prints the
# number of runs and their time. `swift test` runs three of the nets; this runs them all
# (CI does). Builds the tests first unless they are built.
#   scripts/command-matrix.sh [NET,NET,...]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests >/dev/null
MATRIX_NETS="${1:-all}" swift test --skip-build --filter 'CommandMatrixTests' 2>&1 | grep -E 'command matrix|✘|✔ Test run|error'
