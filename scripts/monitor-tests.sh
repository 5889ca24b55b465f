#!/usr/bin/env bash
# `train --monitor` and `swiftcaffe board` in headless Chromium (Tests/Monitor, pytest): the
# page's curves point for point against the run's log, growing while it trains; its end and its
# death; three runs overlaid. Needs Debian's chromium and `python3 -m pip install pytest`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The debug build `swift test` made: `train --monitor` and `board` start swiftcaffe-serve beside it.
swift build --build-tests >/dev/null
SWIFTCAFFE="$PWD/.build/debug/swiftcaffe" python3 -m pytest -p no:cacheprovider -q Tests/Monitor "$@"
