#!/usr/bin/env bash
# The fuzzer's campaign: CASES mutated inputs of every kind (default 40; net summaries get
# twice as many), run through the real binary under a 4 GB address-space limit. A crash, a
# hang or an unlocated error fails the run. With --keep each failing input is copied into
# Tests/SwiftCaffeTests/FuzzCorpus/, which every `swift test` replays from then on; without
# it nothing under Tests/ is written. SEED defaults to a new one each run (CI passes 1).
#   scripts/fuzz.sh [CASES] [SEED] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
arguments=()
for argument in "$@"; do
    if [ "$argument" = "--keep" ]; then keep=1; else arguments+=("$argument"); fi
done
cases="${arguments[0]:-40}"
seed="${arguments[1]:-$(date +%s)}"
swift build --build-tests >/dev/null
FUZZ_CASES="$cases" FUZZ_SEED="$seed" FUZZ_KEEP="$keep" swift test --skip-build --filter 'FuzzTests/mutatedInputsNeverCrash' 2>&1 \
    | grep -E 'fuzz seed|^  [a-z0-9-]+: [0-9]+ cases|✘|✔ Test run|error'
