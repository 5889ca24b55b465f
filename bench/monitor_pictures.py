#!/usr/bin/env python3
"""The pictures in docs/monitor.md, taken by headless Chromium: the page of `train --monitor`
during a fashion_bn run (after its first test), and `swiftcaffe board` on three LeNet runs at
three learning rates.

    bench/monitor_pictures.py [--output docs/images]

Needs the release build (`swift build -c release --product swiftcaffe --product
swiftcaffe-serve`) and Debian's chromium.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from harness import BINARY, ROOT

sys.path.insert(0, os.path.join(ROOT, "Tests", "Monitor"))
from browser import Browser  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "images"))
    arguments = parser.parse_args()
    os.makedirs(arguments.output, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, Browser(width=1500, height=1000) as browser:
        # fashion_bn tests once an epoch (938 iterations): the picture is taken 300 after.
        train = subprocess.Popen([BINARY, "train", os.path.join(ROOT, "nets", "fashion_bn.yaml"), "-o", folder, "--monitor", "0", "--quiet"],
                                 stdout=subprocess.PIPE, text=True)
        browser.open(train.stdout.readline().split()[1])
        browser.wait_for("document.querySelectorAll('#pictures img').length === 3", 600)
        browser.wait_for("document.querySelectorAll('table.runs td')[3].textContent.split(' ')[0] >= 1240", 600)
        browser.screenshot(os.path.join(arguments.output, "monitor-fashion-bn.png"))
        train.terminate()
        train.wait()
        runs = os.path.join(folder, "lenet")
        for rate in ("0.03", "0.01", "0.003"):
            subprocess.run([BINARY, "train", os.path.join(ROOT, "nets", "lenet.yaml"), "--max-iter", "1500", "--base-lr", rate, "-o", runs, "--quiet"],
                           check=True, capture_output=True)
        board = subprocess.Popen([BINARY, "board", runs, "--port", "0"], stdout=subprocess.PIPE, text=True)
        browser.open(board.stdout.readline().split()[-1])
        browser.wait_for("document.querySelectorAll('#chart-accuracy circle.test').length === 9")
        browser.evaluate("document.getElementById('xaxis').value = 'seconds'; document.getElementById('xaxis').dispatchEvent(new Event('change'))")
        time.sleep(1.5)  # the page redraws at most once a second
        browser.screenshot(os.path.join(arguments.output, "board-three-runs.png"))
        board.terminate()
        board.wait()
    print(f"wrote {arguments.output}/monitor-fashion-bn.png and board-three-runs.png")


if __name__ == "__main__":
    main()
