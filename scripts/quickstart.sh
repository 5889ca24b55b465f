#!/usr/bin/env bash
# From a fresh clone: installs what is missing, builds in release mode, trains LeNet on
# Fashion-MNIST for one epoch and scores the weights on the 10,000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
# The command line only: the model server (swiftcaffe-serve) is a build of its own, made by
# `swift build -c release` or `--product swiftcaffe-serve` when wanted (docs/serving.md).
swift build -c release --product swiftcaffe
.build/release/swiftcaffe train nets/lenet.yaml --epochs 1 --output runs
# Run again, training numbers its files (runs/lenet-2_*) rather than replacing the first
# run's: score the newest.
weights=$(ls -t runs/lenet*_iter_938.safetensors | head -n 1)
.build/release/swiftcaffe test nets/lenet.yaml --weights "$weights"
