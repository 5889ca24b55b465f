#!/usr/bin/env python3
"""What calling SwiftCaffe from Python costs: `net.forward()` of the Python package against
`swiftcaffe time --phase test` on the same deploy net at batch 1, alternating, medians.

    PYTHONPATH=python bench/python_overhead.py nets-or-prototxts... [--runs 5] [--iterations 50]

Both builds are timed: `caffe.Net(file, caffe.TEST)` (as written: every blob its own memory,
nothing folded, backward allowed) and `caffe.Net(..., inference=True)` (planned as `time`
plans it, every blob kept). For each, the binding's own cost is the same net timed through
one bare ctypes call per forward with no Python work around it."""
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
        nets = {"as written": caffe.Net(path, caffe.TEST), "inference": caffe.Net(path, caffe.TEST, inference=True)}
        for net in nets.values():
            first = net.inputs[0]
            if net.blobs[first].shape[0] != 1:
                net.blobs[first].reshape(1, *net.blobs[first].shape[1:])
                net.reshape()
        runs = {}
        for run in range(args.runs):
            for build, net in nets.items():
                runs.setdefault(build, []).append(python_forward(net, args.iterations))
                runs.setdefault(build + " bare", []).append(bare_forward(net, args.iterations))
            runs.setdefault("time", []).append(command_forward(path, args.iterations, args.threads))
        median = {key: statistics.median(values) * 1000 for key, values in runs.items()}
        command = median["time"]
        for build in nets:
            py, bare = median[build], median[build + " bare"]
            print(f"{os.path.basename(path)} {build}: net.forward() {py:.3f} ms, one ctypes call {bare:.3f} ms "
                  f"(binding {100 * (py / bare - 1):+.1f}%); swiftcaffe time {command:.3f} ms (python/time {py / command:.3f})")


if __name__ == "__main__":
    main()
