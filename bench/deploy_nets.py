#!/usr/bin/env python3
"""Inference of deploy nets (Caffe prototxts such as BVLC's AlexNet and GoogLeNet or Kaiming
He's ResNet-50, with random weights) at several batch sizes, SwiftCaffe against a twin of the
very same net in ONNX Runtime (bench/onnx_net.py, the default anchor) or PyTorch
(bench/pytorch_net.py), alternating runs in one invocation.

    bench/deploy_nets.py deploy.prototxt [...] [--batches 1 16] [--runs 3] [--anchor onnxruntime|pytorch]

Run PyTorch with OMP_WAIT_POLICY=PASSIVE (its spinning threads collapse under load).

The nets are not part of this repository: pass the files from Caffe's models/ or the
ResNet release. Each is converted to a YAML net with `swiftcaffe convert`, its Input batch set
to each size, then timed with `swiftcaffe time --phase test` (forward only, in-place layers
folded, as `test` and `classify` run) and with bench/pytorch_net.py --inference-only (eval
mode, no_grad) or in ONNX Runtime (every graph optimisation). Prints the median milliseconds
per batch, images/s, the ratio, SwiftCaffe's achieved GFLOP/s (from `summary`'s forward
FLOPs) and both peak RSS.
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


def anchor(kind, net, iterations, threads):
    script = ["bench/pytorch_net.py", net, "--inference-only"] if kind == "pytorch" else ["bench/onnx_net.py", net]
    text = run([sys.executable] + script + ["--iterations", str(iterations), "--threads", str(threads)])
    result = json.loads(text.strip().splitlines()[-1])
    return result["inference_ms_per_batch"], result["peak_rss_mb"]


def forward_flops(net):
    """FLOPs of one forward of the whole batch, from `swiftcaffe summary`."""
    text = run([BINARY, "summary", net])
    per_image = re.search(r"per image: ([\d.]+) ([kMG]?) FLOPs forward; batch (\d+)", text)
    scale = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[per_image.group(2)]
    return float(per_image.group(1)) * scale * int(per_image.group(3))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nets", nargs="+", help="deploy .prototxt files with an Input layer")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--anchor", choices=["onnxruntime", "pytorch"], default="onnxruntime")
    args = parser.parse_args()
    label = {"onnxruntime": "ONNX Runtime", "pytorch": "PyTorch"}[args.anchor]
    if not os.path.exists(BINARY):
        sys.exit("build first: swift build -c release")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for prototxt in args.nets:
            converted = os.path.join(folder, os.path.basename(prototxt).replace(".prototxt", ".yaml"))
            run([BINARY, "convert", os.path.abspath(prototxt), converted])
            for batch in args.batches:
                net = with_batch(converted, batch, folder)
                flops = forward_flops(net)
                ours, theirs = [], []
                for index in range(args.runs):
                    ours.append(swiftcaffe(net, args.iterations, args.threads))
                    theirs.append(anchor(args.anchor, net, args.iterations, args.threads))
                    print(f"run {index + 1}/{args.runs} {os.path.basename(prototxt)} batch {batch}: "
                          f"SwiftCaffe {ours[-1][0]:.1f} ms, {label} {theirs[-1][0]:.1f} ms", flush=True)
                rows.append((os.path.basename(prototxt), batch, statistics.median(o[0] for o in ours), statistics.median(t[0] for t in theirs),
                             max(o[1] for o in ours), max(t[1] for t in theirs), flops))
    print(f"\nmedians of {args.runs} runs, {args.threads} threads; ms per batch, images/s (ratio: {label} time / SwiftCaffe time)")
    print(f"{'net':24} {'batch':>5} {'SwiftCaffe':>16} {label:>18} {'ratio':>6} {'our GFLOP/s':>11} {'peak MB (ours / theirs)':>24}")
    for name, batch, ours, theirs, our_peak, their_peak, flops in rows:
        print(f"{name:24} {batch:5d} {ours:7.1f} ms {batch * 1000 / ours:5.0f}/s {theirs:9.1f} ms {batch * 1000 / theirs:5.0f}/s "
              f"{theirs / ours:5.2f}x {flops / ours / 1e6:11.0f} {our_peak:11.0f} / {their_peak:.0f}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
