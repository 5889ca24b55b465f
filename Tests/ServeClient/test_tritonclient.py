"""`swiftcaffe serve` spoken to by a client nobody here wrote: Triton's own Python client
(`tritonclient[http]`, PyPI). The shipped LeNet, as it ships (data layers and all) beside its
weights, must list, describe and infer, and its answers must equal what `swiftcaffe forward`
and `swiftcaffe classify` compute from the same files. Then SIGTERM must let a request in
flight finish and end the server with status 0.

Run by scripts/serve-tests.sh (needs `python3 -m pip install "tritonclient[http]" numpy pytest`).
"""
import gzip
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import zlib

import numpy as np
import pytest
import tritonclient.http as triton
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SWIFTCAFFE", os.path.join(ROOT, ".build", "release", "swiftcaffe"))
FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def run(*args, **kwargs):
    return subprocess.run([BINARY, *args], check=True, capture_output=True, text=True, **kwargs).stdout


def png(path, pixels):
    """A gray PNG written by hand (zlib and CRCs), so the test needs no imaging library."""
    height, width = pixels.shape
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A repository holding nets/lenet.yaml as it ships with weights from a short training
    run, and a server on a free port in front of it."""
    if not os.path.exists(FASHION):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    folder = tmp_path_factory.mktemp("serve")
    run("train", os.path.join(ROOT, "nets", "lenet.yaml"), "--max-iter", "30", "--output", str(folder / "run"), "--threads", "2")
    weights = folder / "run" / "lenet_iter_30.safetensors"
    version = folder / "models" / "lenet" / "1"
    version.mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "nets", "lenet.yaml"), version)
    shutil.copy(weights, version)
    server = subprocess.Popen([BINARY, "serve", str(folder / "models"), "--port", "0", "--threads", "2", "--max-delay-ms", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    for line in server.stdout:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/v2", line)
        if found:
            port = int(found.group(1))
            break
    assert port, server.stderr.read()
    yield {"server": server, "port": port, "folder": folder, "weights": str(weights), "net": os.path.join(ROOT, "nets", "lenet.yaml")}
    if server.poll() is None:
        server.kill()


def test_a_triton_client_lists_describes_and_infers_what_forward_computes(served):
    client = triton.InferenceServerClient(f"127.0.0.1:{served['port']}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("lenet")
    assert client.get_model_repository_index() == [{"name": "lenet", "version": "1", "state": "READY"}]
    metadata = client.get_model_metadata("lenet")
    assert metadata["inputs"] == [{"name": "data", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert metadata["outputs"] == [{"name": "prob", "datatype": "FP32", "shape": [-1, 10]}]
    config = client.get_model_config("lenet")
    assert config["max_batch_size"] == 32 and config["labels"][9] == "Ankle boot"

    images = np.frombuffer(gzip.open(FASHION).read()[16:], dtype=np.uint8).reshape(-1, 1, 28, 28)[:40]
    data = (images.astype(np.float32) * np.float32(0.00390625))
    np.save(served["folder"] / "data.npy", data)
    run("forward", served["net"], "--weights", served["weights"], "--input", f"data={served['folder'] / 'data.npy'}",
        "--output", str(served["folder"] / "prob.npy"), "--threads", "2")
    expected = np.load(served["folder"] / "prob.npy")

    tensor = triton.InferInput("data", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)  # the binary tensor extension
    probabilities = client.infer("lenet", [tensor]).as_numpy("prob")
    # 40 samples run as a batch of 32 and one of 8; forward runs them at the file's 100.
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    assert (probabilities.argmax(1) == expected.argmax(1)).all()

    as_json = triton.InferInput("data", [3, 1, 28, 28], "FP32")
    as_json.set_data_from_numpy(data[:3], binary_data=False)
    top = client.infer("lenet", [as_json], outputs=[triton.InferRequestedOutput("prob", binary_data=False, class_count=2)]).as_numpy("prob")
    assert top.shape == (3, 2)
    best = expected[:3].argmax(1)
    # JSON strings come back as str, binary ones as bytes.
    assert [(row[0].decode() if isinstance(row[0], bytes) else row[0]).split(":")[1] for row in top] == [str(b) for b in best]

    # Concurrent single-picture requests from several threads each get their own row.
    answers = {}
    def ask(index):
        own = triton.InferenceServerClient(f"127.0.0.1:{served['port']}")
        one = triton.InferInput("data", [1, 1, 28, 28], "FP32")
        one.set_data_from_numpy(data[index:index + 1])
        answers[index] = own.infer("lenet", [one]).as_numpy("prob")[0]
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    for index in range(16):
        np.testing.assert_allclose(answers[index], expected[index], rtol=0, atol=1e-6)

    with pytest.raises(Exception, match="not an input of model 'lenet'"):
        wrong = triton.InferInput("label", [1, 1, 28, 28], "FP32")
        wrong.set_data_from_numpy(data[:1])
        client.infer("lenet", [wrong])


def test_classify_answers_as_the_classify_command(served):
    images = np.frombuffer(gzip.open(FASHION).read()[16:], dtype=np.uint8).reshape(-1, 28, 28)
    picture = served["folder"] / "shoe.png"
    png(picture, images[0])
    command = json.loads(run("classify", served["net"], "--weights", served["weights"], str(picture), "--top", "3", "--json"))
    body = open(picture, "rb").read()
    answer = json.load(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{served['port']}/v2/models/lenet/classify?top=3", data=body, method="POST")))
    expected = command["pictures"][0]["top"]
    assert [c["index"] for c in answer["classes"]] == [c["label"] for c in expected]
    assert [c["label"] for c in answer["classes"]] == [c["name"] for c in expected]
    for got, want in zip(answer["classes"], expected):
        assert abs(got["probability"] - want["probability"]) <= 1e-6


def test_sigterm_finishes_the_request_in_flight_and_exits_0(served):
    port, server = served["port"], served["server"]
    # A lone request waits up to --max-delay-ms (20 ms) for company; SIGTERM arrives meanwhile
    # or just after, and the answer must still come.
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    one = triton.InferInput("data", [1, 1, 28, 28], "FP32")
    one.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float32))
    pending = client.async_infer("lenet", [one])
    server.send_signal(signal.SIGTERM)
    assert pending.get_result().as_numpy("prob").shape == (1, 10)
    assert server.wait(timeout=30) == 0
    assert "stopped" in server.stdout.read()
