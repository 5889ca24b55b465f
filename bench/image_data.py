#!/usr/bin/env python3
"""ImageData (PNG files decoded on the prefetch thread) against IDXData (bytes in memory):
one LeNet epoch each, alternating, on the same machine load.

    bench/image_data.py [--runs 5] [--threads 2]

Writes the PNG folders first if they are missing (swiftcaffe convert, as nets/lenet_images.yaml
says). Prints each run, then the median epoch times, their ratio (the goal: at most 1.15) and
the test accuracies, which must be equal: both nets see the same batches.
"""
import argparse
import os
import re
import statistics
import tempfile

from harness import BINARY, ROOT, run

FASHION = "/usr/share/datasets/fashion-mnist"


def epoch(net, threads):
    with tempfile.TemporaryDirectory() as output:
        text = run([BINARY, "train", f"nets/{net}.yaml", "--epochs", "1", "--threads", str(threads), "--output", output])
    seconds = float(re.search(r"trained \d+ iterations in ([\d.]+) s", text).group(1))
    accuracy = float(re.findall(r"accuracy ([\d.]+)", text)[-1])
    return seconds, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    run(["swift", "build", "-c", "release"])
    for part, images, labels in [("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                                 ("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]:
        if not os.path.exists(os.path.join(ROOT, "data", "fashion-png", part, "list.txt")):
            run([BINARY, "convert", f"{FASHION}/{images}", f"data/fashion-png/{part}", "--labels", f"{FASHION}/{labels}"])
    idx, png = [], []
    for index in range(args.runs):
        idx.append(epoch("lenet", args.threads))
        png.append(epoch("lenet_images", args.threads))
        print(f"run {index + 1}: IDXData {idx[-1][0]:.1f} s (accuracy {idx[-1][1]:.4f}), "
              f"ImageData {png[-1][0]:.1f} s (accuracy {png[-1][1]:.4f})", flush=True)
    a, b = statistics.median(s for s, _ in idx), statistics.median(s for s, _ in png)
    print(f"\nLeNet, one epoch, {args.threads} threads, medians of {args.runs} alternating runs:")
    print(f"  IDXData   {a:.1f} s   accuracy {idx[0][1]:.4f}")
    print(f"  ImageData {b:.1f} s   accuracy {png[0][1]:.4f}   ({b / a:.2f}x the IDXData epoch)")


if __name__ == "__main__":
    main()
