#!/usr/bin/env bash
# Kills a training run with SIGKILL at random moments, N times (default 30), resuming each
# time from the newest solver state, with a snapshot every 20 iterations. Then checks that
# every weights file on disk loads, that every solver state resumes, and that no temporary
# file of a killed run is left after the next run. Prints one line per check and a summary;
# exits 1 if any check failed.
#   scripts/crash-test.sh [N] [FOLDER]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
folder="${2:-$(mktemp -d)}"
swift build -c release >/dev/null || exit 1
binary=.build/release/swiftcaffe
mkdir -p "$folder"
sed -e 's/^  snapshot_prefix:.*/  snapshot_prefix: run\/lenet/' -e 's/^  test_interval:.*/  test_interval: 0/' \
    -e 's/^  display:.*/  display: 20/' nets/lenet.yaml > "$folder/net.yaml"
printf '  snapshot: 20\n' >> "$folder/net.yaml"
grep -q '^  snapshot: 20' "$folder/net.yaml" || { echo "could not write the net"; exit 1; }

newest_state() { ls -t "$folder"/run/*.solverstate 2>/dev/null | head -1; }
RANDOM=7
for ((i = 1; i <= runs; i++)); do
    state=$(newest_state)
    resume=()
    [ -n "$state" ] && resume=(--resume "$state")
    "$binary" train "$folder/net.yaml" --max-iter 100000 --quiet "${resume[@]}" >/dev/null 2>"$folder/stderr-$i" &
    pid=$!
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"; sleep $((RANDOM % 3))
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "run $i killed; newest state: $(basename "$(newest_state)" 2>/dev/null)"
done

failures=0
temporaries=$(ls -a "$folder/run" | grep -c '\.tmp-' || true)
echo "temporary files left by the killed runs: $temporaries"
for weights in "$folder"/run/*.safetensors; do
    if "$binary" test "$folder/net.yaml" --weights "$weights" --iterations 1 >/dev/null 2>"$folder/check.err"; then
        echo "loads:   $(basename "$weights")"
    else
        echo "FAILED:  $(basename "$weights"): $(cat "$folder/check.err")"; failures=$((failures + 1))
    fi
done
for state in "$folder"/run/*.solverstate; do
    iteration=$(basename "$state" .solverstate | sed 's/.*_iter_//')
    scratch=$(mktemp -d)
    if "$binary" train "$folder/net.yaml" --resume "$state" --max-iter $((iteration + 1)) --output "$scratch" --quiet >/dev/null 2>"$folder/check.err"; then
        echo "resumes: $(basename "$state")"
    else
        echo "FAILED:  $(basename "$state"): $(cat "$folder/check.err")"; failures=$((failures + 1))
    fi
    rm -rf "$scratch"
done
# The next run in the folder clears what the killed ones left.
"$binary" train "$folder/net.yaml" --resume "$(newest_state)" --max-iter $(( $(basename "$(newest_state)" .solverstate | sed 's/.*_iter_//') + 1 )) --quiet >/dev/null 2>&1
left=$(ls -a "$folder/run" | grep -c '\.tmp-' || true)
echo "temporary files after the next run: $left"
[ "$left" -eq 0 ] || failures=$((failures + 1))
pairs=$(ls "$folder"/run/*.solverstate | wc -l)
echo "$runs kills, $pairs snapshots on disk, $failures failed checks"
[ "$failures" -eq 0 ]
