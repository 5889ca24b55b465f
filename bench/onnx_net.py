#!/usr/bin/env python3
"""Builds an ONNX twin of one of our net files (test phase, random weights) and times it in
ONNX Runtime, the inference anchor of bench/deploy_nets.py.

    onnx_net.py net.yaml [--iterations 5] [--threads 2] [--batch N] [--save model.onnx]

The net file is read as SwiftCaffe reads it (pyyaml): the test-phase layers in the file's
order, wired by blob name, in-place layers rewriting their blob. Each layer becomes the ONNX
operators with Caffe's semantics: ceil-mode pooling (Caffe's rule that the last window starts
inside the padded input, which ceil_mode matches on the nets timed here), average pooling
counting the padding, BatchNorm with Caffe's scale factor and the Scale after it as
BatchNormalization, InnerProduct as Flatten + Gemm. The weights are random: only speed is
measured. ONNX Runtime runs with every graph optimisation and `--threads` intra-op threads.

Types: Input, Convolution, Pooling, InnerProduct, ReLU, Sigmoid, TanH, BatchNorm, Scale,
Dropout, LRN, Concat, Eltwise (SUM, PROD, MAX), Flatten, Softmax. Anything else stops the
script naming the layer.

Prints one JSON line: milliseconds per batch (median of the iterations) and the process's peak RSS.
"""
import argparse
import json
import resource
import statistics
import time

import numpy as np
import onnx
import onnxruntime
import yaml
from onnx import TensorProto, helper, numpy_helper


def as_list(value):
    return value if isinstance(value, list) else [value]


def pair(layer, key, default):
    if f"{key}_h" in layer:
        return [layer[f"{key}_h"], layer[f"{key}_w"]]
    value = layer.get(key, default)
    value = value[0] if isinstance(value, list) else value
    return [value, value]


class Twin:
    def __init__(self, spec, batch):
        self.nodes, self.initializers, self.inputs = [], [], []
        self.current, self.shapes, self.counter = {}, {}, 0
        self.rng = np.random.default_rng(1)
        layers = [l for l in spec["layers"] if l.get("phase", "test") != "train" and l["type"] not in ("Accuracy", "SoftmaxWithLoss")]
        pending_scale = {}
        for layer in layers:
            self.add(layer, batch, pending_scale)
        last = self.current[as_list(layers[-1]["top"])[0]]
        self.output = last
        self.final_shape = self.shapes[as_list(layers[-1]["top"])[0]]

    def fresh(self, name):
        self.counter += 1
        return f"{name}__{self.counter}"

    def weight(self, name, shape, scale=0.05):
        value = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op, inputs, top, **attributes):
        out = self.fresh(top)
        self.nodes.append(helper.make_node(op, inputs, [out], **attributes))
        self.current[top] = out
        return out

    def add(self, layer, batch, pending_scale):
        kind, name = layer["type"], layer["name"]
        bottoms = [self.current[b] for b in as_list(layer.get("bottom", []))]
        bottom_shapes = [self.shapes[b] for b in as_list(layer.get("bottom", []))]
        tops = as_list(layer.get("top", []))
        if kind == "Input":
            shape = list(as_list(layer["shape"]))
            shape[0] = batch or shape[0]
            self.inputs.append(helper.make_tensor_value_info(tops[0], TensorProto.FLOAT, shape))
            self.current[tops[0]], self.shapes[tops[0]] = tops[0], shape
            return
        shape = bottom_shapes[0] if bottom_shapes else None
        if kind == "Convolution":
            n, c, h, w = shape
            o, group = layer["num_output"], layer.get("group", 1)
            k, s, p, d = pair(layer, "kernel_size", 1), pair(layer, "stride", 1), pair(layer, "pad", 0), pair(layer, "dilation", 1)
            inputs = [bottoms[0], self.weight(f"{name}.w", (o, c // group, k[0], k[1]))]
            if layer.get("bias_term", True):
                inputs.append(self.weight(f"{name}.b", (o,)))
            self.node("Conv", inputs, tops[0], group=group, kernel_shape=k, strides=s, pads=p + p, dilations=d)
            oh = (h + 2 * p[0] - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
            ow = (w + 2 * p[1] - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
            self.shapes[tops[0]] = [n, o, oh, ow]
        elif kind == "Pooling":
            n, c, h, w = shape
            method = layer.get("pool", "MAX")
            if layer.get("global_pooling", False):
                self.node("GlobalMaxPool" if method == "MAX" else "GlobalAveragePool", bottoms, tops[0])
                self.shapes[tops[0]] = [n, c, 1, 1]
                return
            k, s, p = pair(layer, "kernel_size", 1), pair(layer, "stride", 1), pair(layer, "pad", 0)
            attributes = dict(kernel_shape=k, strides=s, pads=p + p, ceil_mode=1)
            if method == "MAX":
                self.node("MaxPool", bottoms, tops[0], **attributes)
            else:
                self.node("AveragePool", bottoms, tops[0], count_include_pad=1, **attributes)
            oh = -(-(h + 2 * p[0] - k[0]) // s[0]) + 1
            ow = -(-(w + 2 * p[1] - k[1]) // s[1]) + 1
            self.shapes[tops[0]] = [n, c, oh, ow]
        elif kind == "InnerProduct":
            flat = self.node("Flatten", bottoms, tops[0] + "_flat", axis=1)
            size = int(np.prod(shape[1:]))
            o = layer["num_output"]
            inputs = [flat, self.weight(f"{name}.w", (o, size))]
            if layer.get("bias_term", True):
                inputs.append(self.weight(f"{name}.b", (o,)))
            self.node("Gemm", inputs, tops[0], transB=1)
            self.shapes[tops[0]] = [shape[0], o]
        elif kind == "BatchNorm":
            c = shape[1]
            mean, var = self.weight(f"{name}.mean", (c,)), f"{name}.var"
            self.initializers.append(numpy_helper.from_array(np.abs(self.rng.standard_normal(c)).astype(np.float32) + 0.5, var))
            scale, bias = f"{name}.gamma", f"{name}.beta"
            self.initializers.append(numpy_helper.from_array(np.ones(c, np.float32), scale))
            self.initializers.append(numpy_helper.from_array(np.zeros(c, np.float32), bias))
            self.node("BatchNormalization", [bottoms[0], scale, bias, mean, var], tops[0], epsilon=layer.get("eps", 1e-5))
            self.shapes[tops[0]] = shape
        elif kind == "Scale":
            c = shape[1]
            factor = self.weight(f"{name}.factor", (c, 1, 1), 1.0)
            scaled = self.node("Mul", [bottoms[0], factor], tops[0] + "_scaled")
            if layer.get("bias_term", False):
                self.node("Add", [scaled, self.weight(f"{name}.shift", (c, 1, 1))], tops[0])
            else:
                self.current[tops[0]] = scaled
            self.shapes[tops[0]] = shape
        elif kind in ("ReLU", "Sigmoid", "TanH"):
            slope = layer.get("negative_slope", 0)
            if kind == "ReLU" and slope:
                self.node("LeakyRelu", bottoms, tops[0], alpha=slope)
            else:
                self.node({"ReLU": "Relu", "Sigmoid": "Sigmoid", "TanH": "Tanh"}[kind], bottoms, tops[0])
            self.shapes[tops[0]] = shape
        elif kind == "Dropout":
            self.current[tops[0]], self.shapes[tops[0]] = bottoms[0], shape
        elif kind == "LRN":
            self.node("LRN", bottoms, tops[0], size=layer.get("local_size", 5), alpha=layer.get("alpha", 1.0),
                      beta=layer.get("beta", 0.75), bias=layer.get("k", 1.0))
            self.shapes[tops[0]] = shape
        elif kind == "Concat":
            axis = layer.get("axis", 1)
            self.node("Concat", bottoms, tops[0], axis=axis)
            self.shapes[tops[0]] = list(shape)
            self.shapes[tops[0]][axis] = sum(s[axis] for s in bottom_shapes)
        elif kind == "Eltwise":
            op = {"SUM": "Sum", "PROD": "Mul", "MAX": "Max"}[layer.get("operation", "SUM")]
            self.node(op, bottoms, tops[0])
            self.shapes[tops[0]] = shape
        elif kind == "Flatten":
            self.node("Flatten", bottoms, tops[0], axis=1)
            self.shapes[tops[0]] = [shape[0], int(np.prod(shape[1:]))]
        elif kind == "Softmax":
            self.node("Softmax", bottoms, tops[0], axis=1)
            self.shapes[tops[0]] = shape
        else:
            raise SystemExit(f"layer '{name}': type {kind} has no ONNX twin here")

    def model(self):
        output = helper.make_tensor_value_info(self.output, TensorProto.FLOAT, self.final_shape)
        graph = helper.make_graph(self.nodes, "twin", self.inputs, [output], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("net")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--save", help="also write the ONNX model here")
    args = parser.parse_args()
    twin = Twin(yaml.safe_load(open(args.net)), args.batch)
    model = twin.model()
    if args.save:
        onnx.save(model, args.save)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(2).standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
             for i in twin.inputs}
    session.run(None, feeds)
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"inference_ms_per_batch": statistics.median(times), "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
