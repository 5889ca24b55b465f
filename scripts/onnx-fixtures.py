#!/usr/bin/env python3
"""Small ONNX models that together use every operator `swiftcaffe` reads, written with the
`onnx` package (PyPI) and checked by onnx.checker, each with a random input and ONNX Runtime's
output for it, for ONNXImportTests:

    scripts/onnx-fixtures.py FOLDER        # FOLDER/<name>.onnx, <name>-input.npy, <name>-output.npy

The models are shaped like the parts of torchvision's classifiers (a ResNet stem and block, a
MobileNetV3 block with squeeze-excitation, a ShuffleNet channel shuffle from Shape arithmetic,
a SqueezeNet fire module) with random weights; the batch dimension is symbolic ("N") and
the input holds 3 samples. One more model uses an operator we do not read (`Erf`), for the
refusal.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


class Graph:
    """Nodes and initializers, with fresh names."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def constant(self, array, base="w"):
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs=1, **attributes):
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(op), **attributes))
        return names[0] if outputs == 1 else names

    def conv(self, x, cin, cout, k, stride=1, pad=0, group=1, dilation=1, bias=True):
        w = self.constant(rng.normal(0, 0.3, (cout, cin // group, k, k)).astype(np.float32))
        inputs = [x, w] + ([self.constant(rng.normal(0, 0.1, cout).astype(np.float32))] if bias else [])
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group, dilations=[dilation] * 2)

    def batchnorm(self, x, c):
        parts = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)]
        return self.node("BatchNormalization", [x] + [self.constant(p.astype(np.float32)) for p in parts], epsilon=1e-3)


def resnet(g, x):
    """A ResNet stem and basic block: Conv, BatchNormalization, Relu, MaxPool, Pad (before a
    convolution without padding of its own), Add, then GlobalAveragePool, Flatten, Gemm and
    Softmax."""
    y = g.node("Relu", [g.batchnorm(g.conv(x, 3, 8, 3, stride=2, pad=1, bias=False), 8)])
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    z = g.node("Relu", [g.batchnorm(g.conv(y, 8, 8, 3, pad=1, bias=False), 8)])
    z = g.node("Pad", [z, g.constant(np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64), "pads")], mode="constant")
    z = g.batchnorm(g.conv(z, 8, 8, 3, pad=0, bias=False), 8)  # the Pad folds into this convolution
    y = g.node("Relu", [g.node("Add", [z, y])])
    y = g.node("Flatten", [g.node("GlobalAveragePool", [y])], axis=1)
    w = g.constant(rng.normal(0, 0.3, (10, 8)).astype(np.float32))
    y = g.node("Gemm", [y, w, g.constant(rng.normal(0, 0.1, 10).astype(np.float32))], transB=1, alpha=0.9, beta=1.1)
    return g.node("Softmax", [y], axis=1)


def mobilenet(g, x):
    """A MobileNetV3 block: HardSwish, a depthwise convolution, squeeze-excitation (ReduceMean,
    Conv, Relu, HardSigmoid, broadcast Mul), Clip as ReLU6, then MatMul and Add of constants."""
    y = g.node("HardSwish", [g.batchnorm(g.conv(x, 3, 16, 3, stride=2, pad=1, bias=False), 16)])
    y = g.conv(y, 16, 16, 3, pad=2, group=16, dilation=2)
    # A value read before its last reader writes it in place: the Sigmoid must see y before the Relu.
    early = g.node("Sigmoid", [y])
    y = g.node("Add", [g.node("Relu", [y]), early])
    s = g.node("ReduceMean", [y], axes=[2, 3], keepdims=1)
    s = g.node("Relu", [g.conv(s, 16, 4, 1)])
    s = g.node("HardSigmoid", [g.conv(s, 4, 16, 1)], alpha=1 / 6, beta=0.5)
    y = g.node("Mul", [y, s])
    low, high = g.constant(np.array(0, dtype=np.float32), "low"), g.constant(np.array(6, dtype=np.float32), "high")
    y = g.node("Clip", [y, low, high])
    y = g.node("ReduceMean", [y], axes=[-1, -2], keepdims=0)
    y = g.node("MatMul", [y, g.constant(rng.normal(0, 0.3, (16, 5)).astype(np.float32))])
    return g.node("Add", [y, g.constant(rng.normal(0, 0.1, 5).astype(np.float32))])


def shufflenet(g, x):
    """ShuffleNet's channel shuffle as torch.onnx.export writes it: Shape, Gather, Unsqueeze,
    Concat and Div fold into Reshape's shape; Transpose; then Split, Slice, Squeeze/Unsqueeze,
    Concat, AveragePool with ceil_mode, and arithmetic with constants."""
    y = g.node("Relu", [g.conv(x, 3, 8, 3, pad=1)])
    shape = g.node("Shape", [y])
    dims = [g.node("Gather", [shape, g.constant(np.array(i, dtype=np.int64), "i")], axis=0) for i in range(4)]
    groups = g.constant(np.array([2], dtype=np.int64), "groups")
    per_group = g.node("Div", [g.node("Unsqueeze", [dims[1], g.constant(np.array([0], dtype=np.int64), "a")]), groups])
    unsqueezed = [g.node("Unsqueeze", [d, g.constant(np.array([0], dtype=np.int64), "a")]) for d in (dims[0], dims[2], dims[3])]
    target = g.node("Concat", [unsqueezed[0], groups, per_group, unsqueezed[1], unsqueezed[2]], axis=0)
    y = g.node("Reshape", [y, target])
    y = g.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = g.node("Reshape", [y, g.constant(np.array([0, -1, 16, 16], dtype=np.int64), "shape")])
    a, b = g.node("Split", [y, g.constant(np.array([3, 5], dtype=np.int64), "split")], outputs=2, axis=1)
    b = g.node("Sigmoid", [g.node("Sub", [b, g.constant(np.array(0.25, dtype=np.float32), "c")])])
    a = g.node("Div", [a, g.constant(np.array(2.0, dtype=np.float32), "c")])
    a = g.node("Mul", [a, g.constant(rng.uniform(0.5, 1.5, (3, 1, 1)).astype(np.float32), "c")])
    a = g.node("Sub", [g.constant(rng.normal(0, 1, (1, 3, 1, 1)).astype(np.float32), "c"), a])
    y = g.node("Concat", [b, a], axis=1)
    y = g.node("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    y = g.node("Slice", [y, *(g.constant(np.array(v, dtype=np.int64), "s") for v in ([1, 0], [7, -1], [1, 2], [1, 1]))])
    y = g.node("LeakyRelu", [g.node("Tanh", [y])], alpha=0.2)
    return g.node("Flatten", [y], axis=1)


def squeezenet(g, x):
    """A SqueezeNet fire module: MaxPool with ceil_mode, a 1×1 squeeze, 1×1 and 3×3 expands
    joined by Concat, LRN, Sub and Mul of two computed tensors, Abs, SiLU (Sigmoid and Mul,
    which the import makes one Swish layer), Dropout and GlobalMaxPool."""
    y = g.node("Relu", [g.conv(x, 3, 8, 3, stride=2)])
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    s = g.node("Relu", [g.conv(y, 8, 4, 1)])
    e1, e3 = g.node("Relu", [g.conv(s, 4, 6, 1)]), g.node("Relu", [g.conv(s, 4, 6, 3, pad=1)])
    y = g.node("LRN", [g.node("Concat", [e1, e3], axis=1)], size=3, alpha=1e-2, beta=0.75, bias=2.0)
    y = g.node("Mul", [g.node("Abs", [g.node("Sub", [y, g.node("Sigmoid", [y])])]), y])
    y = g.node("Mul", [y, g.node("Sigmoid", [y])])  # SiLU, as PyTorch exports it
    y = g.node("Dropout", [y])
    return g.node("GlobalMaxPool", [y])


def unsupported(g, x):
    """An operator SwiftCaffe does not read (Erf, as GELU exports it)."""
    return g.node("Erf", [g.conv(x, 3, 4, 1)])


MODELS = {"resnet": (resnet, 32), "mobilenet": (mobilenet, 32), "shufflenet": (shufflenet, 16), "squeezenet": (squeezenet, 33),
          "unsupported": (unsupported, 8)}


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    for name, (build, size) in MODELS.items():
        g = Graph()
        output = build(g, "image")
        image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])

        def model(output_shape):
            graph = helper.make_graph(g.nodes, name, [image], [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
                                      g.initializers)
            made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            made.ir_version = 8
            return made

        path = os.path.join(folder, name + ".onnx")
        sample = rng.uniform(0, 1, (3, 3, size, size)).astype(np.float32)
        if name == "unsupported":
            onnx.save(model(None), path)
            continue
        # The output's shape as ONNX Runtime computes it, then the checked model with it.
        session = onnxruntime.InferenceSession(model(None).SerializeToString(), providers=["CPUExecutionProvider"])
        result = session.run(None, {"image": sample})[0]
        checked = model(["N"] + list(result.shape[1:]))
        onnx.checker.check_model(checked, full_check=True)
        onnx.save(checked, path)
        np.save(os.path.join(folder, name + "-input.npy"), sample)
        np.save(os.path.join(folder, name + "-output.npy"), result)

if __name__ == "__main__":
    main()
