#!/usr/bin/env python3
"""`swiftcaffe serve` under load from wrk (Debian's `wrk`), with dynamic batching on and off,
against the PyTorch server a user would write (bench/serve_baseline.py: FastAPI, uvicorn, one
forward per request), in alternating runs on loopback.

    OMP_WAIT_POLICY=PASSIVE bench/serve_load.py [--nets lenet resnet50] [--clients 1 8 32 128]
        [--duration 10] [--runs 3] [--resnet /path/resnet50.prototxt] [--threads 2]
        [--overload] [--soak SECONDS]

Each request is one picture in the v2 binary tensor format (LeNet 1×1×28×28, ResNet-50
1×3×224×224), the same bytes to every server. Before timing, Triton's Python client checks that
the served answers equal `swiftcaffe forward` on the same input. Prints, per net and client
count, the medians over runs of requests/s and of wrk's p50 and p99 latency, and the failed
requests (non-2xx, socket errors); then `--overload` (a queue limit of 16 under 128 clients:
503s, no crash, still answering) and `--soak` (RSS before and after SECONDS of load).

Needs: both programs in release (`swift build -c release`), wrk, tritonclient[http], and for the anchor torch, fastapi and uvicorn (PYTHON=... to
run the anchor under another interpreter, such as a virtual environment with torch). ResNet-50
is not part of this repository: pass Kaiming He's deploy prototxt with --resnet; its weights
are random (the filler's), which costs the same time as trained ones.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

from harness import BINARY, ROOT, run

LUA = """
local f = io.open(os.getenv("BODY"), "rb")
wrk.body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = os.getenv("HEADER_LENGTH")
"""


def request_body(shape, folder, name):
    """One v2 binary request: the JSON header, then the FP32 values."""
    values = np.random.default_rng(1).random(shape, dtype=np.float32)
    header = json.dumps({"inputs": [{"name": "data", "shape": list(shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": values.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    path = os.path.join(folder, f"{name}.body")
    open(path, "wb").write(header + values.tobytes())
    np.save(os.path.join(folder, f"{name}.npy"), values)
    return path, len(header), values


def wait_ready(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server on port {port} exited with {process.returncode}: {process.stderr.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"the server on port {port} was not ready in {seconds} s")


def start(command, port, env=None):
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_ready(port, process)
    return process


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode


def wrk(port, model, body, header_length, clients, duration, folder):
    script = os.path.join(folder, "post.lua")
    open(script, "w").write(LUA)
    env = dict(os.environ, BODY=body, HEADER_LENGTH=str(header_length))
    text = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{duration}s", "--timeout", "60s",
                           "--latency", "-s", script, f"http://127.0.0.1:{port}/v2/models/{model}/infer"],
                          capture_output=True, text=True, env=env, check=True).stdout

    def milliseconds(label):
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", text).group(1))
    failed = int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    failed += sum(int(x) for x in errors.groups()) if errors else 0
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), "p50": milliseconds("50%"),
            "p99": milliseconds("99%"), "requests": requests, "failed": failed, "non2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1])}


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def check_answers(port, model, net, weights, values, folder):
    """Triton's client must get what `swiftcaffe forward` computes for the same input."""
    import tritonclient.http as triton
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    tensor = triton.InferInput("data", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values)
    served = client.infer(model, [tensor]).as_numpy("prob")
    run([BINARY, "forward", net, "--weights", weights, "--input", f"data={os.path.join(folder, model + '.npy')}",
         "--output", os.path.join(folder, model + "_prob.npy")])
    expected = np.load(os.path.join(folder, model + "_prob.npy"))
    difference = float(np.abs(served - expected).max())
    assert difference <= 1e-5 and (served.argmax(1) == expected.argmax(1)).all(), f"{model}: served answers differ by {difference}"
    return difference


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nets", nargs="+", default=["lenet", "resnet50"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resnet", help="Kaiming He's ResNet-50 deploy prototxt (needed for the resnet50 rows)")
    parser.add_argument("--overload", action="store_true")
    parser.add_argument("--soak", type=int, default=0)
    parser.add_argument("--no-anchor", action="store_true")
    args = parser.parse_args()
    python = os.environ.get("PYTHON", sys.executable)
    folder = tempfile.mkdtemp(prefix="serve_load_")
    repository = os.path.join(folder, "models")
    nets = {}
    for name in args.nets:
        version = os.path.join(repository, name, "1")
        os.makedirs(version)
        if name == "lenet":
            net = os.path.join(ROOT, "nets", "lenet.yaml")
            run([BINARY, "train", net, "--max-iter", "1", "--output", os.path.join(folder, "run"), "--threads", str(args.threads)])
            weights = os.path.join(folder, "run", "lenet_iter_1.safetensors")
            run([BINARY, "convert", net, os.path.join(folder, "lenet_deploy.yaml"), "--deploy"])
            deploy = os.path.join(folder, "lenet_deploy.yaml")
            shape = (1, 1, 28, 28)
        else:
            if not args.resnet:
                sys.exit("resnet50: pass its deploy prototxt with --resnet (it is not part of this repository)")
            deploy = os.path.join(folder, "resnet50.yaml")
            run([BINARY, "convert", args.resnet, deploy])
            weights = os.path.join(folder, "resnet50_random.safetensors")
            # Random weights, from the fillers, written by the Python package.
            subprocess.run([sys.executable, "-c", "import sys, swiftcaffe as caffe; caffe.Net(sys.argv[1], caffe.TEST).save(sys.argv[2])",
                            deploy, weights], check=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
            net = deploy
            shape = (1, 3, 224, 224)
        shutil.copy(net, version)
        shutil.copy(weights, os.path.join(version, "w.safetensors"))
        body, header_length, values = request_body(shape, folder, name)
        nets[name] = {"net": net, "deploy": deploy, "weights": weights, "body": body, "header": header_length, "values": values}

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=os.path.join(ROOT, "bench"))
    servers = {
        "batching": lambda port: [BINARY, "serve", repository, "--port", str(port), "--threads", str(args.threads)],
        "no batching": lambda port: [BINARY, "serve", repository, "--port", str(port), "--threads", str(args.threads), "--no-batching"],
    }
    results = {}
    for name, net in nets.items():
        if not args.no_anchor:
            servers["PyTorch"] = lambda port, net=net: [python, os.path.join(ROOT, "bench", "serve_baseline.py"), net["deploy"],
                                                          "--port", str(port), "--threads", str(args.threads)]
        process = start(servers["batching"](8100), 8100)
        difference = check_answers(8100, name, net["net"], net["weights"], np.concatenate([net["values"]] * 3), folder)
        stop(process)
        print(f"{name}: Triton's client gets forward's answers (largest difference {difference:.1e})", flush=True)
        for run_index in range(args.runs):
            for kind, command in servers.items():
                port = 8101
                process = start(command(port), port, env)
                for clients in args.clients:
                    result = wrk(port, name, net["body"], net["header"], clients, args.duration, folder)
                    results.setdefault((name, clients, kind), []).append(result)
                    print(f"  run {run_index + 1} {name} {kind:12} {clients:4} clients: {result['rps']:9.1f} req/s  p50 {result['p50']:8.2f} ms"
                          f"  p99 {result['p99']:8.2f} ms  failed {result['failed']}", flush=True)
                code = stop(process)
                assert kind == "PyTorch" or code == 0, f"serve exited with {code}"

    print("\n| net | clients | server | requests/s | p50 ms | p99 ms | failed | vs PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, clients, kind), runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        anchor = results.get((name, clients, "PyTorch"))
        ratio = f"{rps / statistics.median(r['rps'] for r in anchor):.2f}×" if anchor and kind != "PyTorch" else ""
        print(f"| {name} | {clients} | {kind} | {rps:.1f} | {statistics.median(r['p50'] for r in runs):.2f} | "
              f"{statistics.median(r['p99'] for r in runs):.2f} | {sum(r['failed'] for r in runs)} | {ratio} |")

    if args.overload:
        name, net = next(iter(nets.items()))
        process = start([BINARY, "serve", repository, "--port", "8102", "--threads", str(args.threads), "--max-queue", "16"], 8102)
        result = wrk(8102, name, net["body"], net["header"], 128, args.duration, folder)
        alive = urllib.request.urlopen("http://127.0.0.1:8102/v2/health/live").status
        code = stop(process)
        print(f"\noverload ({name}, 128 clients, --max-queue 16): {result['requests']} requests, {result['non2xx']} answered 503, "
              f"{result['failed'] - result['non2xx']} socket errors; live afterwards: {alive}; exit status {code}")

    if args.soak:
        name, net = next(iter(nets.items()))
        process = start([BINARY, "serve", repository, "--port", "8103", "--threads", str(args.threads)], 8103)
        wrk(8103, name, net["body"], net["header"], 32, 10, folder)  # warm up: every plan made
        before = rss_mb(process.pid)
        result = wrk(8103, name, net["body"], net["header"], 32, args.soak, folder)
        after = rss_mb(process.pid)
        code = stop(process)
        print(f"\nsoak ({name}, 32 clients, {args.soak} s): {result['requests']} requests, {result['failed']} failed, "
              f"{result['rps']:.0f} req/s; RSS {before:.1f} MB before, {after:.1f} MB after; exit status {code}")


if __name__ == "__main__":
    main()
