#!/usr/bin/env python3
"""Two builds of SwiftCaffe side by side: the release binary of this checkout against another
(`--baseline`, say one built from an earlier commit), alternating runs in one invocation so
that both see the same machine load. Measures what bench/bench.py measures for nets in nets/
(training and inference images/s) and, for deploy nets given with --deploy, forward ms per
batch as bench/deploy_nets.py does; prints medians and the ratio new / baseline.

    bench/ab.py --baseline /path/to/old/swiftcaffe [--nets lenet mlp fashion_bn] \\
                [--deploy alexnet.prototxt ...] [--batches 1 16] [--runs 5]

A refactoring that claims to change no speed should show ratios within the noise (about 3 %
on the shared 2-core machine); build both in release mode first.
"""
import argparse
import os
import re
import statistics
import tempfile

from harness import BINARY, ROOT, run


def nets_row(binary, net, iterations, threads):
    with tempfile.TemporaryDirectory() as output:
        text = run([binary, "train", f"nets/{net}.yaml", "--max-iter", str(iterations), "--threads", str(threads), "--output", output])
    trained = float(re.search(r"\(([\d.]+) images/s;", text).group(1))
    timed = run([binary, "time", f"nets/{net}.yaml", "--phase", "test", "--iterations", "50", "--threads", str(threads)])
    return {"train img/s": trained, "infer img/s": float(re.search(r"; ([\d.]+) images/s", timed).group(1))}


def deploy_row(binary, net, threads):
    text = run([binary, "time", net, "--phase", "test", "--iterations", "5", "--warmup", "1", "--threads", str(threads)])
    return {"forward ms": float(re.search(r"^forward ([\d.]+) ms", text, re.M).group(1))}


def with_batch(yaml_path, batch, folder):
    text, count = re.subn(r"(shape: \[)\d+", rf"\g<1>{batch}", open(yaml_path).read(), count=1)
    assert count == 1, f"{yaml_path}: no Input shape"
    path = os.path.join(folder, f"{os.path.basename(yaml_path)[:-5]}_b{batch}.yaml")
    open(path, "w").write(text)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the other build's swiftcaffe binary")
    parser.add_argument("--nets", nargs="*", default=["lenet", "mlp", "fashion_bn"])
    parser.add_argument("--deploy", nargs="*", default=[], help="deploy .prototxt files with an Input layer")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    builds = {"baseline": os.path.abspath(args.baseline), "new": BINARY}
    cases = [(net, lambda b, n=net: nets_row(b, n, args.iterations, args.threads)) for net in args.nets]
    with tempfile.TemporaryDirectory() as folder:
        for prototxt in args.deploy:
            converted = os.path.join(folder, os.path.basename(prototxt).replace(".prototxt", ".yaml"))
            run([BINARY, "convert", os.path.abspath(prototxt), converted])
            for batch in args.batches:
                path = with_batch(converted, batch, folder)
                cases.append((f"{os.path.basename(prototxt)} b{batch}", lambda b, p=path: deploy_row(b, p, args.threads)))
        samples = {(name, build): [] for name, _ in cases for build in builds}
        for index in range(args.runs):
            for name, measure in cases:
                for build, binary in builds.items():
                    samples[(name, build)].append(measure(binary))
            print(f"run {index + 1}/{args.runs} done", flush=True)
    print(f"\nmedians of {args.runs} alternating runs, {args.threads} threads")
    print(f"{'case':34} {'measure':12} {'baseline':>10} {'new':>10} {'new/base':>9}")
    for name, _ in cases:
        for key in samples[(name, "new")][0]:
            base = statistics.median(s[key] for s in samples[(name, "baseline")])
            new = statistics.median(s[key] for s in samples[(name, "new")])
            print(f"{name:34} {key:12} {base:10.1f} {new:10.1f} {new / base:8.3f}x")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
