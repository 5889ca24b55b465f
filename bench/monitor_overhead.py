#!/usr/bin/env python3
"""What watching a run costs: training speed (`swiftcaffe train`'s own images/s, which leaves
out testing) with `--monitor`, with `--monitor` and a browser on the page (headless Chromium,
kept open for the whole run), and without; and, given --baseline, a build from before runs
kept a record (`<prefix>_events.jsonl`) at all. Variants alternate within each round; medians.

    bench/monitor_overhead.py [--nets lenet fashion_bn] [--runs 3] [--baseline /path/to/old/swiftcaffe]

Needs the release build (`swift build -c release --product swiftcaffe --product
swiftcaffe-serve`) and, for the browser, Debian's chromium.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

from harness import BINARY, ROOT

sys.path.insert(0, os.path.join(ROOT, "Tests", "Monitor"))
from browser import Browser  # noqa: E402

ITERATIONS = {"lenet": 1500, "fashion_bn": 600}


def speed(output):
    match = re.search(r"trained \d+ iterations in [\d.]+ s \((\d+) images/s", output)
    if not match:
        sys.exit(f"no speed in:\n{output}")
    return int(match.group(1))


def train(binary, net, folder, monitor=False, browser=False):
    command = [binary, "train", os.path.join(ROOT, "nets", net + ".yaml"), "--max-iter", str(ITERATIONS[net]), "-o", folder, "--force", "--quiet"]
    if not monitor:
        return speed(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    process = subprocess.Popen(command + ["--monitor", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = process.stdout.readline().split()[1]
    if browser:
        with Browser() as page:
            page.open(url)
            output = process.communicate()[0]
    else:
        output = process.communicate()[0]
    assert process.returncode == 0, output
    return speed(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", default=["lenet", "fashion_bn"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a swiftcaffe built before runs kept a record")
    arguments = parser.parse_args()
    variants = [("no --monitor", lambda net, folder: train(BINARY, net, folder)),
                ("--monitor", lambda net, folder: train(BINARY, net, folder, monitor=True)),
                ("--monitor + browser", lambda net, folder: train(BINARY, net, folder, monitor=True, browser=True))]
    if arguments.baseline:
        variants.insert(0, ("before records", lambda net, folder: train(arguments.baseline, net, folder)))
    with tempfile.TemporaryDirectory() as folder:
        for net in arguments.nets:
            results = {name: [] for name, _ in variants}
            for round_ in range(arguments.runs):
                # Each round starts with another variant, so that none always runs first.
                for name, measure in variants[round_ % len(variants):] + variants[:round_ % len(variants)]:
                    results[name].append(measure(net, folder))
                    print(f"{net} round {round_ + 1}: {name}: {results[name][-1]} images/s", file=sys.stderr)
            reference = statistics.median(results["no --monitor"])
            print(f"\n{net}, {ITERATIONS[net]} iterations, medians of {arguments.runs} alternating runs")
            print("| variant | images/s (runs) | median | / no --monitor |")
            print("| --- | --- | --- | --- |")
            for name, _ in variants:
                median = statistics.median(results[name])
                print(f"| {name} | {', '.join(map(str, results[name]))} | {median:.0f} | {median / reference:.3f} |")


if __name__ == "__main__":
    main()
