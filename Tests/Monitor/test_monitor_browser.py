"""`train --monitor` and `swiftcaffe board` in a real browser: headless Chromium (Debian's
`chromium`) loads the page and reads what it drew. The curve must have a point for every row of
the run's CSV log, grow while the run trains, and the page must say how the run ended: finished,
or died when the trainer is killed. `board` must overlay three runs.

Run by scripts/monitor-tests.sh. With SWIFTCAFFE_SCREENSHOTS=DIR it also saves what it saw.
"""
import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from browser import Browser, chromium_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SWIFTCAFFE", os.path.join(ROOT, ".build", "debug", "swiftcaffe"))
SCREENSHOTS = os.environ.get("SWIFTCAFFE_SCREENSHOTS")
FASHION = "/usr/share/datasets/fashion-mnist"

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install chromium)")


def lenet(folder, max_iter, display=5, test_interval=30):
    """The shipped LeNet, logging every `display` iterations and testing on 5 batches."""
    text = open(os.path.join(ROOT, "nets", "lenet.yaml")).read()
    text = re.sub(r"\n  display: \d+", f"\n  display: {display}", text)
    text = re.sub(r"\n  test_interval: \d+", f"\n  test_interval: {test_interval}\n  test_iter: 5", text)
    text = re.sub(r"\n  epochs: [\d.]+", f"\n  max_iter: {max_iter}", text)
    text = text.replace("../runs/", os.path.join(folder, "runs") + "/")
    path = os.path.join(folder, "lenet.yaml")
    with open(path, "w") as file:
        file.write(text)
    return path


def log_rows(path):
    with open(path) as file:
        return list(csv.DictReader(file))


def count(browser, selector):
    return browser.evaluate(f"document.querySelectorAll({selector!r}).length")


def start_monitored(net, output, *extra):
    """`train --monitor 0`, and the page's address from its first line."""
    process = subprocess.Popen([BINARY, "train", net, "--monitor", "0", "-o", output, *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    match = re.match(r"monitor: (http://\S+/)", line)
    assert match, f"no monitor line: {line!r}"
    return process, match.group(1)


@needs_chromium
@pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed")
def test_the_page_follows_a_run_point_for_point(tmp_path):
    net = lenet(str(tmp_path), max_iter=60)
    output = str(tmp_path / "runs")
    process, url = start_monitored(net, output)
    log = os.path.join(output, "lenet_log.csv")
    with Browser() as browser:
        browser.open(url)
        browser.wait_for("document.body.dataset.state === 'running'")
        browser.wait_for("document.querySelectorAll('#chart-loss circle.train').length >= 2", 120)
        seen = count(browser, "#chart-loss circle.train")
        # It grows while training goes on, with no reload.
        browser.wait_for(f"document.querySelectorAll('#chart-loss circle.train').length > {seen}", 120)
        assert "running: iteration" in browser.evaluate("document.getElementById('banner').textContent")
        if SCREENSHOTS:
            browser.screenshot(os.path.join(SCREENSHOTS, "monitor-running.png"))
        assert process.wait(timeout=600) == 0, process.stdout.read()
        browser.wait_for("document.body.dataset.state === 'finished'")
        rows = log_rows(log)
        assert count(browser, "#chart-loss circle.train") == sum(1 for r in rows if r["train_loss"]) == 12
        assert count(browser, "#chart-loss circle.test") == sum(1 for r in rows if r["test_loss"]) == 2
        assert count(browser, "#chart-accuracy circle.test") == sum(1 for r in rows if r["test_accuracy"]) == 2
        # What the last test showed: filters, the image, its maps; the confusion of 10 classes.
        assert count(browser, "#pictures img") == 3
        assert count(browser, "table.confusion tr") == 11
        assert browser.evaluate("[...document.querySelectorAll('table.confusion td')].reduce((s, td) => s + Number(td.textContent), 0)") == 500
        assert "conv1" in browser.evaluate("document.querySelector('table.layers').textContent")
        assert browser.evaluate("document.getElementById('graph-image').naturalWidth") > 0
        # The board leaves with the run; the page says it is no longer connected.
        browser.wait_for("document.getElementById('connection').className === 'lost'")
        assert browser.errors == []


@needs_chromium
@pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed")
def test_the_page_says_when_the_trainer_died(tmp_path):
    net = lenet(str(tmp_path), max_iter=100000)
    process, url = start_monitored(net, str(tmp_path / "runs"))
    try:
        with Browser() as browser:
            browser.open(url)
            browser.wait_for("document.body.dataset.state === 'running'")
            process.send_signal(signal.SIGKILL)
            process.wait()
            browser.wait_for("document.body.dataset.state === 'died'")
            banner = browser.evaluate("document.getElementById('banner').textContent")
            assert banner.startswith("died after iteration") and "killed, or it crashed" in banner
            assert browser.errors == []
    finally:
        process.kill()


@needs_chromium
def test_board_overlays_three_runs(tmp_path):
    folder = str(tmp_path / "runs")
    for rate in ("0.01", "0.003", "0.001"):
        subprocess.run([BINARY, "train", os.path.join(ROOT, "nets", "iris_mlp.yaml"), "--epochs", "40", "--base-lr", rate, "-o", folder],
                       check=True, capture_output=True)
    board = subprocess.Popen([BINARY, "board", folder, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = board.stdout.readline()
        match = re.match(r"showing 3 runs at (http://\S+/)", line)
        assert match, line
        with Browser() as browser:
            browser.open(match.group(1))
            browser.wait_for("document.querySelectorAll('table.runs tr[data-run]').length === 3")
            # In the order train numbered them, named from the folder given down.
            assert browser.evaluate("[...document.querySelectorAll('table.runs td.name')].map(td => td.textContent).join()") \
                == "runs/iris_mlp,runs/iris_mlp-2,runs/iris_mlp-3"
            logs = [log_rows(os.path.join(folder, prefix + "_log.csv")) for prefix in ("iris_mlp", "iris_mlp-2", "iris_mlp-3")]
            tests = [sum(1 for r in rows if r["test_accuracy"]) for rows in logs]
            assert tests[0] >= 2
            browser.wait_for(f"document.querySelectorAll('#chart-accuracy circle.test').length === {sum(tests)}")
            for run, rows in zip(("r0", "r1", "r2"), logs):
                assert count(browser, f"#chart-loss circle.train[data-run={run}]") == sum(1 for r in rows if r["train_loss"])
                assert count(browser, f"#chart-accuracy circle.test[data-run={run}]") == sum(1 for r in rows if r["test_accuracy"])
            assert browser.evaluate("[...document.querySelectorAll('td.state')].map(td => td.textContent).join()") == "finished,finished,finished"
            # Epochs on x: the same points, and the last at 40 epochs.
            browser.evaluate("document.getElementById('xaxis').value = 'epoch'; document.getElementById('xaxis').dispatchEvent(new Event('change'))")
            browser.wait_for("[...document.querySelectorAll('#chart-accuracy text.tick')].some(t => t.textContent === '40')")
            assert count(browser, "#chart-accuracy circle.test") == sum(tests)
            # Hiding a run takes its curves away.
            browser.evaluate("document.querySelector('tr[data-run=r1] input').click()")
            browser.wait_for(f"document.querySelectorAll('#chart-accuracy circle.test').length === {sum(tests) - tests[1]}")
            browser.evaluate("document.querySelector('tr[data-run=r1] input').click()")
            if SCREENSHOTS:
                browser.wait_for(f"document.querySelectorAll('#chart-accuracy circle.test').length === {sum(tests)}")
                browser.screenshot(os.path.join(SCREENSHOTS, "board-three-runs.png"))
            assert browser.errors == []
    finally:
        board.send_signal(signal.SIGTERM)
        assert board.wait(timeout=30) == 0


def test_training_goes_on_when_the_board_dies(tmp_path):
    """The board is only a reader: killing it mid-run must not stop or slow the run's end."""
    folder = str(tmp_path / "runs")
    process, url = start_monitored(os.path.join(ROOT, "nets", "iris_mlp.yaml"), folder, "--epochs", "300")
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, children
    os.kill(int(children[0]), signal.SIGKILL)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output
    rows = log_rows(os.path.join(folder, "iris_mlp_log.csv"))
    assert rows[-1]["iteration"] == "3000" and rows[-1]["test_accuracy"]
