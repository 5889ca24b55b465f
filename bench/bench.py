#!/usr/bin/env python3
"""SwiftCaffe's benchmark harness: training and inference speed and peak memory for
any net in nets/ (default lenet and mlp), and the same nets in PyTorch where it is installed:
hand-written twins for lenet, mlp and lstm_rows (against nn.LSTM of the same sizes), and for
any other net a twin that bench/pytorch_net.py builds from the net file, layer by layer
(it needs PyYAML).

    bench/bench.py [--runs 5] [--iterations 300] [--threads 2] [--nets lenet mlp fashion_bn]

Run it with OMP_WAIT_POLICY=PASSIVE in the environment: under load PyTorch's spinning
OpenMP threads collapse, and a speed-up over a collapsed baseline is not one.

Builds in release mode, then runs each framework on each net `--runs` times, alternating
SwiftCaffe and PyTorch so that both see the same machine load, and prints medians and the
SwiftCaffe / PyTorch ratio. Training images/s counts training iterations only (not the
test passes), inference images/s is a forward pass over batches of 100 test images.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile

from harness import BINARY, ROOT, run


def swiftcaffe(net, iterations, threads):
    with tempfile.TemporaryDirectory() as output:
        text = run([BINARY, "train", f"nets/{net}.yaml", "--max-iter", str(iterations), "--threads", str(threads), "--output", output])
    trained = re.search(r"\(([\d.]+) images/s;.*peak memory (\d+) MB", text)
    timed = re.search(r"; ([\d.]+) images/s", run([BINARY, "time", f"nets/{net}.yaml", "--phase", "test", "--iterations", "50", "--threads", str(threads)]))
    return {"train_images_per_s": float(trained.group(1)), "inference_images_per_s": float(timed.group(1)),
            "peak_rss_mb": float(trained.group(2))}


def pytorch(net, iterations, threads):
    if net in HANDWRITTEN:
        command = ["bench/pytorch_bench.py", net]
    else:  # any other net file, built layer by layer
        command = ["bench/pytorch_net.py", f"nets/{net}.yaml"]
    text = run([sys.executable] + command + ["--iterations", str(iterations), "--threads", str(threads)])
    return json.loads(text.strip().splitlines()[-1])


# Nets with a hand-written PyTorch twin that also reads the real data; every other net in nets/
# gets one built from its file by bench/pytorch_net.py, on random batches of the same shapes.
HANDWRITTEN = ["lenet", "mlp", "lstm_rows"]


def have_torch():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nets", nargs="+", default=["lenet", "mlp"], help="net files in nets/, without .yaml")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    if not args.no_build:
        run(["swift", "build", "-c", "release"])
    frameworks = {"SwiftCaffe": swiftcaffe}
    if have_torch():
        frameworks["PyTorch"] = pytorch
    else:
        print("PyTorch is not installed (pip install torch): measuring SwiftCaffe alone\n")

    results = {net: {name: [] for name in frameworks} for net in args.nets}
    for index in range(args.runs):
        for net in args.nets:
            for name, measure in frameworks.items():
                sample = measure(net, args.iterations, args.threads)
                results[net][name].append(sample)
                print(f"run {index + 1}/{args.runs} {net:9} {name:10} train {sample['train_images_per_s']:8.0f} img/s  "
                      f"inference {sample['inference_images_per_s']:8.0f} img/s  peak {sample['peak_rss_mb']:6.0f} MB", flush=True)

    print(f"\nmedians of {args.runs} runs, {args.threads} threads, {args.iterations} training iterations of batch 64")
    print(f"{'net':9} {'framework':10} {'train img/s':>12} {'s/epoch':>8} {'infer img/s':>12} {'peak MB':>8}")
    for net in args.nets:
        medians = {}
        for name, samples in results[net].items():
            m = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
            medians[name] = m
            print(f"{net:9} {name:10} {m['train_images_per_s']:12.0f} {60000 / m['train_images_per_s']:8.1f} "
                  f"{m['inference_images_per_s']:12.0f} {m['peak_rss_mb']:8.0f}")
        if "PyTorch" in medians:
            ours, theirs = medians["SwiftCaffe"], medians["PyTorch"]
            print(f"{net:9} {'ratio':10} {ours['train_images_per_s'] / theirs['train_images_per_s']:11.2f}x {'':8} "
                  f"{ours['inference_images_per_s'] / theirs['inference_images_per_s']:11.2f}x "
                  f"{ours['peak_rss_mb'] / theirs['peak_rss_mb']:7.2f}x")


if __name__ == "__main__":
    main()
