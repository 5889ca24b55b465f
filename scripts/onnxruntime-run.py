#!/usr/bin/env python3
"""Runs an ONNX model in ONNX Runtime on inputs from .npy files and writes one output (the
first, or the one named with --output NAME) as a .npy file: how the tests compare
SwiftCaffe's ONNX export with ONNX Runtime.

    scripts/onnxruntime-run.py model.onnx result.npy [--output NAME] INPUT=input.npy [...]

Needs the onnxruntime and numpy packages from PyPI (pip install onnxruntime).
"""
import sys

import numpy as np
import onnxruntime


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model, output = sys.argv[1], sys.argv[2]
    arguments, wanted = sys.argv[3:], None
    if arguments[:1] == ["--output"]:
        wanted, arguments = arguments[1], arguments[2:]
    feeds = {}
    for argument in arguments:
        name, _, path = argument.partition("=")
        feeds[name] = np.load(path).astype(np.float32)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if wanted is not None and wanted not in names:
        sys.exit(f"{model} has no output '{wanted}'; it has {', '.join(names)}")
    result = session.run([wanted or names[0]], feeds)[0]
    np.save(output, result.astype(np.float32))


if __name__ == "__main__":
    main()
