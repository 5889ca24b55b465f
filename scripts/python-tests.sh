#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): the C library and the command line built
# in release, then pycaffe's API checked against numpy, finite differences and `classify`.
# Needs numpy and pytest (`python3 -m pip install numpy pytest`).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product swiftcaffe >/dev/null
swift build -c release --product SwiftCaffeC >/dev/null
PYTHONPATH="$PWD/python" python3 -m pytest -p no:cacheprovider -q python/tests "$@"
