#!/usr/bin/env bash
# The whole test suite: the package's tests, then the example package that adds its own
# layer (Examples/CustomLayer), built against this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test
swift test --package-path Examples/CustomLayer
