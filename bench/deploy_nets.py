#!/usr/bin/env python3
"""Inference of deploy nets (Caffe prototxts such as BVLC's AlexNet and GoogLeNet or Kaiming
He's ResNet-50, with random weights) at several batch sizes, SwiftCaffe against a PyTorch twin
of the very same net, alternating runs in one invocation.

    OMP_WAIT_POLICY=PASSIVE bench/deploy_nets.py deploy.prototxt [...] [--batches 1 16] [--runs 3]

The nets are not part of this repository: pass the files from Caffe's models/ or the
ResNet release. Each is converted to a YAML net with `swiftcaffe convert`, its Input batch set
to each size, then timed with `swiftcaffe time --phase test` (forward only, in-place layers
folded, as `test` and `classify` run) and with bench/pytorch_net.py --inference-only (eval
mode, no_grad). Prints the median milliseconds per batch, the ratio and both peak RSS.
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile

from harness import BINARY, ROOT, run


def with_batch(yaml_path, batch, folder):
    """The converted net with its Input layer's first dimension set to `batch`."""
    text = open(yaml_path).read()
    text, count = re.subn(r"(shape: \[)\d+", rf"\g<1>{batch}", text, count=1)
    if count != 1:
        sys.exit(f"{yaml_path}: no Input shape to set the batch in")
    path = os.path.join(folder, f"{os.path.basename(yaml_path)[:-5]}_b{batch}.yaml")
    open(path, "w").write(text)
    return path


def swiftcaffe(net, iterations, threads):
    text = run([BINARY, "time", net, "--phase", "test", "--iterations", str(iterations), "--warmup", "1", "--threads", str(threads)])
    milliseconds = float(re.search(r"^forward ([\d.]+) ms", text, re.M).group(1))
    peak = float(re.search(r"peak memory \(RSS\) ([\d.]+) MB", text).group(1))
    return milliseconds, peak


def pytorch(net, iterations, threads):
    text = run([sys.executable, "bench/pytorch_net.py", net, "--inference-only", "--iterations", str(iterations), "--threads", str(threads)])
    result = json.loads(text.strip().splitlines()[-1])
    return result["inference_ms_per_batch"], result["peak_rss_mb"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nets", nargs="+", help="deploy .prototxt files with an Input layer")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: swift build -c release")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for prototxt in args.nets:
            converted = os.path.join(folder, os.path.basename(prototxt).replace(".prototxt", ".yaml"))
            run([BINARY, "convert", os.path.abspath(prototxt), converted])
            for batch in args.batches:
                net = with_batch(converted, batch, folder)
                ours, theirs = [], []
                for index in range(args.runs):
                    ours.append(swiftcaffe(net, args.iterations, args.threads))
                    theirs.append(pytorch(net, args.iterations, args.threads))
                    print(f"run {index + 1}/{args.runs} {os.path.basename(prototxt)} batch {batch}: "
                          f"SwiftCaffe {ours[-1][0]:.1f} ms, PyTorch {theirs[-1][0]:.1f} ms", flush=True)
                rows.append((os.path.basename(prototxt), batch, statistics.median(o[0] for o in ours), statistics.median(t[0] for t in theirs),
                             max(o[1] for o in ours), max(t[1] for t in theirs)))
    print(f"\nmedians of {args.runs} runs, {args.threads} threads; ms per batch (ratio: PyTorch / SwiftCaffe time)")
    print(f"{'net':34} {'batch':>5} {'SwiftCaffe':>11} {'PyTorch':>9} {'ratio':>6} {'peak MB (ours / PyTorch)':>26}")
    for name, batch, ours, theirs, our_peak, their_peak in rows:
        print(f"{name:34} {batch:5d} {ours:11.1f} {theirs:9.1f} {theirs / ours:5.2f}x {our_peak:12.0f} / {their_peak:.0f}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
