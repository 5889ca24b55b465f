#!/usr/bin/env bash
# The model server spoken to by Triton's own Python client (Tests/ServeClient, pytest): the
# shipped LeNet served as it ships, its answers checked against `forward` and `classify`.
# Needs `python3 -m pip install "tritonclient[http]" numpy pytest`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The debug build `swift test` made: `swiftcaffe serve` starts swiftcaffe-serve beside it.
swift build --build-tests >/dev/null
SWIFTCAFFE="$PWD/.build/debug/swiftcaffe" python3 -m pytest -p no:cacheprovider -q Tests/ServeClient "$@"
