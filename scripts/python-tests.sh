#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): the C library and the command line from
# the debug build that `swift test` made (SWIFTCAFFE_CONFIGURATION=release for the other),
# then pycaffe's API checked against numpy, finite differences and `classify`.
# Needs numpy and pytest (`python3 -m pip install numpy pytest`).
set -euo pipefail
cd "$(dirname "$0")/.."
configuration=${SWIFTCAFFE_CONFIGURATION:-debug}
# In debug, the build `swift test` made (a plain `swift build` would build it again with
# other settings); the C library is a product of its own.
if [ "$configuration" = debug ]; then swift build --build-tests >/dev/null; else swift build -c release --product swiftcaffe >/dev/null; fi
swift build -c "$configuration" --product SwiftCaffeC >/dev/null
SWIFTCAFFE="$PWD/.build/$configuration/swiftcaffe" SWIFTCAFFE_LIBRARY="$PWD/.build/$configuration/libSwiftCaffeC.so" \
    PYTHONPATH="$PWD/python" python3 -m pytest -p no:cacheprovider -q python/tests "$@"
