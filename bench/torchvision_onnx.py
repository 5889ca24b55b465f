#!/usr/bin/env python3
"""torchvision classifiers exported to ONNX, read by SwiftCaffe and run by ONNX Runtime: the
same outputs, and the speed side by side. Needs PyTorch and torchvision (about 3 GB; bench
only, never CI), e.g. in a virtual environment that sees the system's onnx and onnxruntime:

    python3 -m venv --system-site-packages /tmp/tv && /tmp/tv/bin/pip install torch torchvision
    /tmp/tv/bin/python bench/torchvision_onnx.py [--models resnet18 ...] [--batches 1 16] [--runs 3]

Each model has random weights (eval mode) and is exported by `torch.onnx.export` (opset 17,
batch dimension symbolic). Accuracy: 3 random 224×224 images through `swiftcaffe forward
model.onnx` and through ONNX Runtime; the largest absolute difference, that over the largest
output, and whether every argmax agrees. Speed: the model converted to our YAML (`convert
model.onnx net.yaml`) with its Input batch set, timed by `swiftcaffe time --phase test`
(forward only), alternating with ONNX Runtime on the same ONNX file (every graph
optimisation, `--threads` intra-op threads); medians of `--runs` runs of `--iterations`
batches each. A model whose export fixed its batch (a Reshape of constant sizes) is timed at
batch 1 only.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime
import torch
import torchvision

from harness import BINARY, ROOT, run

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "densenet121", "efficientnet_b0",
          "shufflenet_v2_x1_0", "vgg11"]


def export(name, path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, opset_version=17, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, dynamo=False)


def session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def accuracy(path, folder, threads):
    images = np.random.default_rng(3).uniform(-1, 1, (3, 3, 224, 224)).astype(np.float32)
    np.save(os.path.join(folder, "images.npy"), images)
    theirs = session(path, threads).run(None, {"image": images})[0]
    run([BINARY, "forward", path, "--input", f"image={folder}/images.npy", "-o", f"{folder}/ours.npy", "--threads", str(threads)])
    ours = np.load(os.path.join(folder, "ours.npy"))
    difference = float(np.abs(ours - theirs).max())
    return difference, difference / float(np.abs(theirs).max()), bool((ours.argmax(1) == theirs.argmax(1)).all())


def ours_ms(net, iterations, threads):
    text = run([BINARY, "time", net, "--phase", "test", "--iterations", str(iterations), "--warmup", "1", "--threads", str(threads)])
    return float(re.search(r"^forward ([\d.]+) ms", text, re.M).group(1))


def theirs_ms(path, batch, iterations, threads):
    runner = session(path, threads)
    images = np.random.default_rng(1).uniform(-1, 1, (batch, 3, 224, 224)).astype(np.float32)
    runner.run(None, {"image": images})
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        runner.run(None, {"image": images})
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def with_batch(yaml_path, batch):
    text, count = re.subn(r"(shape: \[)\d+", rf"\g<1>{batch}", open(yaml_path).read(), count=1)
    path = yaml_path.replace(".yaml", f"_b{batch}.yaml")
    open(path, "w").write(text)
    plans = subprocess.run([BINARY, "summary", path], cwd=ROOT, capture_output=True).returncode == 0
    return path if count == 1 and plans else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accuracy-only", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: swift build -c release")
    checks, speeds = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            path = os.path.join(folder, name + ".onnx")
            export(name, path)
            checks.append((name,) + accuracy(path, folder, args.threads))
            print(f"{name}: max abs difference {checks[-1][1]:.2e}, relative {checks[-1][2]:.2e}, same argmax {checks[-1][3]}", flush=True)
            if args.accuracy_only:
                continue
            yaml_path = os.path.join(folder, name + ".yaml")
            run([BINARY, "convert", path, yaml_path])
            for batch in args.batches:
                net = with_batch(yaml_path, batch)
                if net is None:
                    print(f"{name} batch {batch}: the export fixed the batch; skipped", flush=True)
                    continue
                ours, theirs = [], []
                for index in range(args.runs):
                    ours.append(ours_ms(net, args.iterations, args.threads))
                    theirs.append(theirs_ms(path, batch, args.iterations, args.threads))
                    print(f"run {index + 1}/{args.runs} {name} batch {batch}: SwiftCaffe {ours[-1]:.1f} ms, ONNX Runtime {theirs[-1]:.1f} ms", flush=True)
                speeds.append((name, batch, statistics.median(ours), statistics.median(theirs)))
    print("\nmodel                  max abs diff   relative   same argmax")
    for name, difference, relative, same in checks:
        print(f"{name:22} {difference:12.2e} {relative:10.2e}   {same}")
    if speeds:
        print(f"\nmedians of {args.runs} runs, {args.threads} threads; ms per batch, images/s (ratio: ONNX Runtime time / SwiftCaffe time)")
        print(f"{'model':22} {'batch':>5} {'SwiftCaffe':>16} {'ONNX Runtime':>18} {'ratio':>6}")
        for name, batch, ours, theirs in speeds:
            print(f"{name:22} {batch:5d} {ours:7.1f} ms {batch * 1000 / ours:5.0f}/s {theirs:9.1f} ms {batch * 1000 / theirs:5.0f}/s {theirs / ours:5.2f}x")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
