#!/usr/bin/env bash
# The fuzzer at length: N mutated inputs of every kind (default 500; net summaries get twice
# as many), run through the real binary under a 4 GB address-space limit. A crash, a hang or an
# unlocated error fails the run and is kept in Tests/SwiftCaffeTests/FuzzCorpus/, which every
# `swift test` replays from then on.
#   scripts/fuzz.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
FUZZ_CASES="${1:-500}" FUZZ_SEED="${2:-$(date +%s)}" swift test --skip-build --filter 'FuzzTests/mutatedInputsNeverCrash' 2>&1 \
    | grep -E 'fuzz seed|^  [a-z-]+: [0-9]+ cases|✘|✔ Test run|error'
