#!/usr/bin/env python3
"""What calling SwiftCaffe from Python costs: `net.forward()` of the Python package against
`swiftcaffe time --phase test` on the same deploy net at batch 1, alternating, medians.

    PYTHONPATH=python bench/python_overhead.py nets-or-prototxts... [--runs 5] [--iterations 50]

Two differences are reported apart: the binding's own cost (the same as-written net timed
through one ctypes call per forward with no Python work around it) and the net's build
(`caffe.Net` keeps every blob and folds nothing; `time` times the inference net, which folds
BatchNorm, Scale and ReLU into convolutions and shares memory)."""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import swiftcaffe as caffe  # noqa: E402
from swiftcaffe._library import lib  # noqa: E402

BINARY = os.path.join(ROOT, ".build", "release", "swiftcaffe")


def python_forward(net, iterations):
    for _ in range(3):
        net.forward()
    start = time.perf_counter()
    for _ in range(iterations):
        net.forward()
    return (time.perf_counter() - start) / iterations


def bare_forward(net, iterations):
    pointer = net._handle.pointer
    for _ in range(3):
        lib.sc_net_forward(pointer, 0, -1, None)
    start = time.perf_counter()
    for _ in range(iterations):
        lib.sc_net_forward(pointer, 0, -1, None)
    return (time.perf_counter() - start) / iterations


def command_forward(path, iterations, threads):
    output = subprocess.run([BINARY, "time", path, "--phase", "test", "--iterations", str(iterations), "--threads", str(threads),
                             "--json"], stdout=subprocess.PIPE, check=True, text=True).stdout
    report = json.loads(output)
    return report["forward_ms"] / 1000 if "forward_ms" in report else report["milliseconds_per_iteration"] / 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("nets", nargs="+")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    caffe.set_threads(args.threads)
    for path in args.nets:
        net = caffe.Net(path, caffe.TEST)
        first = net.inputs[0]
        if net.blobs[first].shape[0] != 1:
            net.blobs[first].reshape(1, *net.blobs[first].shape[1:])
            net.reshape()
        runs = {"python": [], "bare": [], "time": []}
        for run in range(args.runs):
            runs["python"].append(python_forward(net, args.iterations))
            runs["bare"].append(bare_forward(net, args.iterations))
            runs["time"].append(command_forward(path, args.iterations, args.threads))
        py, bare, command = (statistics.median(runs[k]) * 1000 for k in ("python", "bare", "time"))
        print(f"{os.path.basename(path)}: net.forward() {py:.3f} ms, one ctypes call {bare:.3f} ms "
              f"(binding {100 * (py / bare - 1):+.1f}%), swiftcaffe time {command:.3f} ms (python/time {py / command:.2f})")


if __name__ == "__main__":
    main()
