#!/usr/bin/env python3
"""One LeNet epoch as a whole process, SwiftCaffe against PyTorch: from exec to exit, with the
start-up, the data (gunzip and decode of Fashion-MNIST's training set), the first iteration
and the training, and no test. Alternating runs, medians.

    OMP_WAIT_POLICY=PASSIVE bench/whole_process.py [--runs 5] [--threads 2] [--python PYTHON]

SwiftCaffe runs `swiftcaffe train` on nets/lenet.yaml without its test-phase layers (so it has
no test net), for one epoch (938 iterations of 64). PyTorch runs bench/pytorch_bench.py lenet
--epoch with the PYTHON given (one with torch installed): the same net, solver and batches,
no warm-up and no test. Each process is timed from outside; each also reports its parts:
SwiftCaffe's log has the seconds it trained, PyTorch's script the seconds of its imports,
data, first iteration and training.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

from harness import BINARY, ROOT, run


def without_test(folder):
    """nets/lenet.yaml without its test-phase layers, its paths still resolving."""
    net = yaml.safe_load(open(os.path.join(ROOT, "nets", "lenet.yaml")))
    net["layers"] = [layer for layer in net["layers"] if layer.get("phase") != "test"]
    net["solver"].pop("test_interval", None)
    path = os.path.join(folder, "lenet_no_test.yaml")
    yaml.safe_dump(net, open(path, "w"), sort_keys=False)
    return path


def timed(command, **options):
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, **options)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stderr}")
    return seconds, completed.stdout + completed.stderr


def swiftcaffe(net, threads):
    with tempfile.TemporaryDirectory() as output:
        seconds, text = timed([BINARY, "train", net, "--epochs", "1", "--threads", str(threads), "--output", output])
    trained = re.search(r"trained (\d+) iterations in ([\d.]+) s", text)
    return {"whole_s": seconds, "iterations": int(trained.group(1)), "training_s": float(trained.group(2))}


def pytorch(python, threads):
    seconds, text = timed([python, os.path.join(ROOT, "bench", "pytorch_bench.py"), "lenet", "--epoch", "--threads", str(threads)])
    result = json.loads(text.strip().splitlines()[-1])
    result["whole_s"] = seconds
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--python", default=sys.executable, help="a Python with torch installed")
    args = parser.parse_args()
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        print("warning: run with OMP_WAIT_POLICY=PASSIVE (PyTorch's spinning threads collapse under load)", file=sys.stderr)
    run(["swift", "build", "-c", "release"])
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        net = without_test(folder)
        for index in range(args.runs):
            ours.append(swiftcaffe(net, args.threads))
            theirs.append(pytorch(args.python, args.threads))
            print(f"run {index + 1}/{args.runs}: SwiftCaffe {ours[-1]['whole_s']:.2f} s (trained {ours[-1]['training_s']:.2f} s), "
                  f"PyTorch {theirs[-1]['whole_s']:.2f} s (trained {theirs[-1]['training_s']:.2f} s)", flush=True)

    def median(results, key):
        return statistics.median(result[key] for result in results)

    whole, their_whole = median(ours, "whole_s"), median(theirs, "whole_s")
    training = median(ours, "training_s")
    print(f"\nLeNet, one epoch ({ours[0]['iterations']} iterations of 64), whole process, {args.threads} threads, "
          f"medians of {args.runs} alternating runs:")
    print(f"  SwiftCaffe {whole:.2f} s: training {training:.2f} s, the rest (start-up, data, net, snapshot) {whole - training:.2f} s")
    print(f"  PyTorch    {their_whole:.2f} s: imports {median(theirs, 'imports_s'):.2f} s, data {median(theirs, 'data_s'):.2f} s, "
          f"first iteration {median(theirs, 'first_iteration_s'):.2f} s, training {median(theirs, 'training_s'):.2f} s, "
          f"interpreter start and exit {their_whole - median(theirs, 'in_process_s'):.2f} s")
    print(f"  ratio (PyTorch / SwiftCaffe): {their_whole / whole:.2f}x whole, "
          f"{(median(theirs, 'training_s') + median(theirs, 'first_iteration_s')) / training:.2f}x training")


if __name__ == "__main__":
    main()
