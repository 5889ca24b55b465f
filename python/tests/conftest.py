"""Shared helpers: the repository's paths, nets written to temporary files, a PNG writer."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
SWIFTCAFFE = os.environ.get("SWIFTCAFFE", os.path.join(ROOT, ".build", "release", "swiftcaffe"))
FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def write(tmp_path):
    """write(text, name) -> the path of a file holding `text`."""
    def make(text, name="net.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return make


def png(path, pixels):
    """Writes an 8-bit gray (H x W) or RGB (H x W x 3) PNG with nothing but zlib."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    color = 2 if pixels.ndim == 3 else 0
    rows = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def fashion_test_image(index):
    """The `index`-th Fashion-MNIST test picture (28 x 28 bytes) and its label."""
    import gzip
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as images:
        images.read(16 + index * 784)
        picture = np.frombuffer(images.read(784), dtype=np.uint8).reshape(28, 28)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")) as labels:
        labels.read(8 + index)
        label = labels.read(1)[0]
    return picture, label


def run_command(*arguments):
    return subprocess.run([SWIFTCAFFE] + list(arguments), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=True, cwd=ROOT).stdout
