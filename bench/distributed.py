#!/usr/bin/env python3
"""Data-parallel training on one machine: one process with T threads against `mpirun -np R`
ranks with T/R threads each, and against one process with `--replicas R` (the ranks as
threads), the same net and the same global batch (each rank or replica gets 1/R of the net
file's training batch), alternating so that all see the same machine load.

    bench/distributed.py [--net lenet] [--ranks 2] [--threads 2] [--epochs 1] [--runs 3]

Prints, as medians over the runs: training images/s of each, their ratios to the single
process, and the share of each iteration a rank or replica spent waiting in the gradient
sums (what the overlap with backward did not hide, plus any imbalance between them).
"""
import argparse
import os
import re
import statistics
import sys
import tempfile

from harness import BINARY, ROOT, run


def train(command):
    with tempfile.TemporaryDirectory() as output:
        text = run(command + ["--output", output, "--quiet"])
    speed = float(re.search(r"\(([\d.]+) images/s;", text).group(1))
    waiting = re.search(r"waiting for the others ([\d.]+) ms per iteration \(([\d.]+)%", text)
    return speed, (float(waiting.group(1)), float(waiting.group(2))) if waiting else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", default="lenet")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads of the single process; each rank gets threads / ranks")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run(["swift", "build", "-c", "release"])

    source = os.path.join(ROOT, "nets", f"{args.net}.yaml")
    text = open(source).read()
    batch = int(re.search(r"batch_size: (\d+)", text).group(1))  # the first data layer's: training
    if batch % args.ranks:
        sys.exit(f"{args.net}'s training batch {batch} does not split into {args.ranks} ranks")
    per_rank = os.path.join(ROOT, "nets", f".{args.net}-{args.ranks}-ranks.yaml")  # beside it: same relative paths
    with open(per_rank, "w") as file:
        file.write(re.sub(r"batch_size: \d+", f"batch_size: {batch // args.ranks}", text, count=1))
    try:
        rank_threads = max(1, args.threads // args.ranks)
        alone = [BINARY, "train", source, "--epochs", str(args.epochs), "--threads", str(args.threads)]
        ranks = ["mpirun", "--allow-run-as-root", "-np", str(args.ranks), "--bind-to", "none",
                 BINARY, "train", per_rank, "--epochs", str(args.epochs), "--threads", str(rank_threads)]
        replicas = [BINARY, "train", source, "--epochs", str(args.epochs), "--threads", str(args.threads), "--replicas", str(args.ranks)]
        single, distributed, waits, replicated, replica_waits = [], [], [], [], []
        for run_index in range(args.runs):
            single.append(train(alone)[0])
            speed, waiting = train(ranks)
            distributed.append(speed)
            waits.append(waiting)
            replica_speed, replica_waiting = train(replicas)
            replicated.append(replica_speed)
            replica_waits.append(replica_waiting)
            print(f"run {run_index + 1}: one process {single[-1]:.0f} images/s, {args.ranks} ranks {speed:.0f} images/s "
                  f"(waiting {waiting[0]:.2f} ms per iteration), {args.ranks} replicas {replica_speed:.0f} images/s "
                  f"(waiting {replica_waiting[0]:.2f} ms)", flush=True)
    finally:
        os.remove(per_rank)
    a, b = statistics.median(single), statistics.median(distributed)
    print(f"\n{args.net}, global batch {batch}, {args.epochs:g} epoch(s), medians of {args.runs} alternating runs:")
    print(f"  1 process x {args.threads} threads: {a:.0f} images/s")
    print(f"  {args.ranks} ranks x {rank_threads} thread(s) x batch {batch // args.ranks}: {b:.0f} images/s  ({b / a:.2f}x)")
    print(f"  waiting in gradient sums: {statistics.median(w[0] for w in waits):.2f} ms per iteration "
          f"({statistics.median(w[1] for w in waits):.1f}% of training time)")
    c = statistics.median(replicated)
    print(f"  1 process x {args.ranks} replicas x {rank_threads} thread(s) x batch {batch // args.ranks}: {c:.0f} images/s  ({c / a:.2f}x)")
    print(f"  replicas waiting in gradient sums: {statistics.median(w[0] for w in replica_waits):.2f} ms per iteration "
          f"({statistics.median(w[1] for w in replica_waits):.1f}% of training time)")


if __name__ == "__main__":
    main()
