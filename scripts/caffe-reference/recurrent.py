#!/usr/bin/env python3
"""Writes Tests/SwiftCaffeTests/CaffeReference/recurrent.safetensors: what real Caffe computes
for its LSTM and RNN layers, which RecurrentTests.matchesCaffe reproduces.

Run with pycaffe (../shared/tools/build-caffe-oracle.sh DIR, then DIR/venv/bin/python this
file). Never part of CI: the file it writes is committed.

Four cases (LSTM and RNN, each plain and with a static input and expose_hidden). Each net:
Input tops x (T×N×D), cont (T×N, with sequences starting inside the batch), [x_static N×S,
h_0 and c_0 1×N×H], w (the output's shape); the recurrent layer with Caffe's own uniform
fillers; loss = Σ output·w (Eltwise PROD, then Reduction SUM). Stored per case: the inputs,
the parameters Caffe drew, the outputs of two forward passes (the second starts from the
first's final state where expose_hidden is off; cont's first row is 1 then) and the parameter
gradients of the first pass.
"""
import json
import os
import struct
import tempfile

import numpy as np
import caffe

T, N, D, S, H = 5, 3, 4, 2, 3
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "SwiftCaffeTests", "CaffeReference",
                   "recurrent.safetensors")


def prototxt(kind, static, expose):
    shapes = [("x", [T, N, D]), ("cont", [T, N])]
    if static:
        shapes.append(("x_static", [N, S]))
    states = ["h_0", "c_0"] if kind == "LSTM" else ["h_0"]
    if expose:
        shapes += [(name, [1, N, H]) for name in states]
    shapes.append(("w", [T, N, H]))
    text = 'layer { name: "input" type: "Input"\n'
    text += "".join(f'  top: "{name}"\n' for name, _ in shapes)
    text += "  input_param {\n" + "".join("    shape { " + " ".join(f"dim: {d}" for d in shape) + " }\n" for _, shape in shapes) + "  }\n}\n"
    bottoms = ["x", "cont"] + (["x_static"] if static else []) + (states if expose else [])
    tops = ["out"] + ([s.replace("_0", "_T") for s in states] if expose else [])
    text += f'layer {{ name: "rec" type: "{kind}"\n'
    text += "".join(f'  bottom: "{b}"\n' for b in bottoms) + "".join(f'  top: "{t}"\n' for t in tops)
    text += ('  recurrent_param { num_output: %d expose_hidden: %s\n'
             '    weight_filler { type: "uniform" min: -0.5 max: 0.5 }\n'
             '    bias_filler { type: "uniform" min: -0.5 max: 0.5 } }\n}\n') % (H, "true" if expose else "false")
    text += 'layer { name: "prod" type: "Eltwise" bottom: "out" bottom: "w" top: "prod" eltwise_param { operation: PROD } }\n'
    text += 'layer { name: "loss" type: "Reduction" bottom: "prod" top: "loss" loss_weight: 1 reduction_param { operation: SUM } }\n'
    return text, [name for name, _ in shapes], tops


def main():
    caffe.set_mode_cpu()
    caffe.set_random_seed(11)
    rng = np.random.RandomState(5)
    tensors = {}
    for kind in ["LSTM", "RNN"]:
        for static, expose in [(False, False), (True, True)]:
            case = f"{kind}{'_static_exposed' if expose else ''}"
            text, inputs, tops = prototxt(kind, static, expose)
            with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
                f.write(text)
            net = caffe.Net(f.name, caffe.TRAIN)
            values = {}
            for name in inputs:
                blob = net.blobs[name]
                values[name] = rng.uniform(-1, 1, blob.data.shape).astype(np.float32)
            cont = np.ones((T, N), np.float32)
            cont[0, :] = 0
            cont[2, 1] = 0
            cont[3, 2] = 0
            values["cont"] = cont
            for name, value in values.items():
                net.blobs[name].data[...] = value
                tensors[f"{case}/{name}"] = value
            for index, param in enumerate(net.params["rec"]):
                tensors[f"{case}/param{index}"] = param.data.copy()
            net.forward()
            for top in tops:
                tensors[f"{case}/{top}"] = net.blobs[top].data.copy()
            for param in net.params["rec"]:
                param.diff[...] = 0
            net.backward()
            for index, param in enumerate(net.params["rec"]):
                tensors[f"{case}/param{index}_diff"] = param.diff.copy()
            # A second pass that continues the first (cont = 1 at its first step).
            second = cont.copy()
            second[0, :] = 1
            net.blobs["cont"].data[...] = second
            net.forward()
            tensors[f"{case}/out_second"] = net.blobs["out"].data.copy()
            os.unlink(f.name)
    write_safetensors(OUT, tensors)
    print(f"wrote {len(tensors)} tensors to {os.path.normpath(OUT)}")


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"source": "BVLC Caffe (brocolli-caffe 9.0.2), scripts/caffe-reference/recurrent.py"}
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


if __name__ == "__main__":
    main()
