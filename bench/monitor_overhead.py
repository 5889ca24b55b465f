#!/usr/bin/env python3
"""What watching a run costs. Each run trains `--max-iter N` of a shipped net, as:
`no --monitor`; `--monitor`; `--monitor` with a browser on the page (headless Chromium, already
open, as a user's would be); and, given --baseline, a build from before runs kept a record
(`<prefix>_events.jsonl`) at all. Variants alternate within each round; medians.

    bench/monitor_overhead.py [--nets lenet fashion_bn] [--runs 3] [--baseline /path/to/old/swiftcaffe]

For each it prints images/s as `train` reports it (testing left out), and CPU time: the
trainer's (with its board, which it waits for) per iteration, and the browser's, all its
processes, as a share of one core while the run trained. On a shared machine the CPU times
are steadier than images/s: a cost shows in them even when the speed's noise hides it.

Needs the release build (`swift build -c release --product swiftcaffe --product
swiftcaffe-serve`) and, for the browser, Debian's chromium.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from harness import BINARY, ROOT

sys.path.insert(0, os.path.join(ROOT, "Tests", "Monitor"))
from browser import Browser  # noqa: E402

ITERATIONS = {"lenet": 1500, "fashion_bn": 600}
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root):
    """CPU seconds (user + system) of `root` and every process under it, from /proc."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(binary, net, folder, monitor=False, browser=False):
    """(images/s, trainer CPU s per iteration, browser's share of a core or None)."""
    command = [binary, "train", os.path.join(ROOT, "nets", net + ".yaml"), "--max-iter", str(ITERATIONS[net]), "-o", folder, "--force", "--quiet"]
    if monitor:
        command += ["--monitor", "0"]
    before = children_cpu()
    share = None
    if not browser:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    else:
        with Browser() as page:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            page.open(process.stdout.readline().split()[1])
            start, browser_start = time.time(), tree_cpu(page.process.pid)
            output = process.communicate()[0]
            share = (tree_cpu(page.process.pid) - browser_start) / (time.time() - start)
            assert process.returncode == 0, output
    match = re.search(r"trained \d+ iterations in [\d.]+ s \((\d+) images/s", output)
    if not match:
        sys.exit(f"no speed in:\n{output}")
    return int(match.group(1)), (children_cpu() - before) / ITERATIONS[net], share


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
                    print(f"{net} round {round_ + 1}: {name}: {results[name][-1]}", file=sys.stderr)
            reference = results["no --monitor"]
            speed = statistics.median(r[0] for r in reference)
            cpu = statistics.median(r[1] for r in reference)
            print(f"\n{net}, {ITERATIONS[net]} iterations, medians of {arguments.runs} alternating runs")
            print("| variant | images/s (runs) | median | / no --monitor | trainer CPU ms / iteration | / no --monitor | browser, share of a core |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for name, _ in variants:
                runs = results[name]
                median = statistics.median(r[0] for r in runs)
                per = statistics.median(r[1] for r in runs)
                shares = [r[2] for r in runs if r[2] is not None]
                share = f"{100 * statistics.median(shares):.1f} %" if shares else "–"
                print(f"| {name} | {', '.join(str(r[0]) for r in runs)} | {median:.0f} | {median / speed:.3f} | {1000 * per:.2f} | {per / cpu:.3f} | {share} |")


if __name__ == "__main__":
    main()
