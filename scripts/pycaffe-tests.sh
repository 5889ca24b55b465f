#!/usr/bin/env bash
# Runs BVLC Caffe's own pycaffe tests (python/caffe/test/test_*.py of a Caffe checkout) against
# SwiftCaffe's Python package, with `caffe` standing for `swiftcaffe`. Nothing of Caffe's is
# copied into this repository: the tests are read from the checkout given.
#   scripts/pycaffe-tests.sh CAFFE_CHECKOUT [pytest arguments...]
# A checkout: `git clone https://github.com/BVLC/caffe`, or a bare mirror's tree exported with
# `git --git-dir=MIRROR archive HEAD python | tar -x -C DIR`.
set -euo pipefail
caffe=${1:?usage: scripts/pycaffe-tests.sh CAFFE_CHECKOUT [pytest arguments...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
tests="$caffe/python/caffe/test"
[ -d "$tests" ] || { echo "error: $tests does not exist: pass the root of a Caffe checkout" >&2; exit 1; }
swift build -c release --product SwiftCaffeC --package-path "$root" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/alias/caffe"
# `import caffe` gives the swiftcaffe module itself, so `caffe.proto.caffe_pb2`,
# `from caffe import layers as L` and the rest resolve to SwiftCaffe's.
cat > "$work/alias/caffe/__init__.py" <<'PY'
import sys
import swiftcaffe
sys.modules[__name__] = swiftcaffe
for name, module in list(sys.modules.items()):  # caffe.io, caffe.coord_map, ... are the same modules
    if name.startswith("swiftcaffe."):
        sys.modules["caffe." + name[len("swiftcaffe."):]] = module
PY
cp "$tests"/test_*.py "$work/"
cd "$work"
PYTHONPATH="$root/python:$work/alias" python3 -m pytest -p no:cacheprovider -q -rfEs "$@" .
