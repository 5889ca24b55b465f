#!/usr/bin/env python3
"""Builds a PyTorch twin of one of our net files, layer by layer, and times it, for bench/bench.py.

    pytorch_net.py nets/fashion_bn.yaml [--iterations 300] [--threads 2] [--batch N] [--inference-only]

The net file is read as SwiftCaffe reads it: the layers of the train phase, wired by blob
name in the file's order (our nets list layers in a valid order; in-place layers rewrite their
blob). Each layer becomes the PyTorch module with Caffe's semantics: ceil-mode pooling,
BatchNorm without affine followed by a Scale with bias, InnerProduct flattening from axis 1.
Data layers become random batches of the same shape, so that only the net is timed; the
solver does SGD with momentum and weight decay (or Adam) at the net's base_lr, which is the
same work per iteration whatever the schedule.

Types: IDXData, Input, Convolution, Pooling, InnerProduct, ReLU, Sigmoid, TanH, BatchNorm,
Scale, Bias, Dropout, LRN, Concat, Eltwise, Flatten, Softmax, SoftmaxWithLoss, Accuracy (test
phase only, skipped). Anything else is an error naming the layer.

Prints one JSON line: training and inference images/s, and the process's peak RSS.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


def as_list(value):
    return value if isinstance(value, list) else [value]


def pair(layer, key, default):
    """Caffe's kernel_size/stride/pad, or their _h/_w forms."""
    if f"{key}_h" in layer:
        return (layer[f"{key}_h"], layer[f"{key}_w"])
    value = layer.get(key, default)
    value = value[0] if isinstance(value, list) else value
    return (value, value)


class Twin(nn.Module):
    """The train-phase layers of a net file, run in order on a dictionary of blobs."""

    def __init__(self, spec, batch):
        super().__init__()
        self.steps, self.inputs = [], {}
        shapes = {}
        modules = nn.ModuleDict()
        for layer in spec["layers"]:
            if layer.get("phase", "train") != "train":
                continue
            kind, name = layer["type"], layer["name"]
            bottoms, tops = as_list(layer.get("bottom", [])), as_list(layer.get("top", []))
            if kind == "IDXData":
                n = batch or layer["batch_size"]
                shapes[tops[0]] = (n, 1, 28, 28)
                self.inputs[tops[0]] = (n, 1, 28, 28)
                if len(tops) > 1:
                    shapes[tops[1]] = (n,)
                    self.inputs[tops[1]] = "labels"
                continue
            if kind == "Input":
                for top, shape in zip(tops, layer["shape"] if isinstance(layer["shape"][0], list) else [layer["shape"]] * len(tops)):
                    shapes[top] = tuple(shape)
                    self.inputs[top] = tuple(shape)
                continue
            if kind == "Accuracy":
                continue
            shape = shapes[bottoms[0]]
            module, out = self.module(kind, layer, shape, [shapes[b] for b in bottoms])
            if module is not None:
                modules[name] = module
            self.steps.append((kind, name, bottoms, tops))
            for top in tops:
                shapes[top] = out
        self.layers = modules

    @staticmethod
    def module(kind, layer, shape, bottom_shapes):
        if kind == "Convolution":
            k, s, p = pair(layer, "kernel_size", 1), pair(layer, "stride", 1), pair(layer, "pad", 0)
            d = pair(layer, "dilation", 1)
            conv = nn.Conv2d(shape[1], layer["num_output"], k, s, p, d, groups=layer.get("group", 1),
                             bias=layer.get("bias_term", True))
            h = (shape[2] + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
            w = (shape[3] + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
            return conv, (shape[0], layer["num_output"], h, w)
        if kind == "Pooling":
            if layer.get("global_pooling", False):
                k, s, p = (shape[2], shape[3]), (1, 1), (0, 0)
            else:
                k, s, p = pair(layer, "kernel_size", 1), pair(layer, "stride", 1), pair(layer, "pad", 0)
            h = math.ceil((shape[2] + 2 * p[0] - k[0]) / s[0]) + 1
            w = math.ceil((shape[3] + 2 * p[1] - k[1]) / s[1]) + 1
            if layer.get("pool", "MAX") == "MAX":
                pool = nn.MaxPool2d(k, s, p, ceil_mode=True)
            else:
                pool = nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=True)
            return pool, (shape[0], shape[1], h, w)
        if kind == "InnerProduct":
            inputs = math.prod(shape[1:])
            return nn.Linear(inputs, layer["num_output"], bias=layer.get("bias_term", True)), (shape[0], layer["num_output"])
        if kind == "BatchNorm":
            return nn.BatchNorm2d(shape[1], eps=layer.get("eps", 1e-5), momentum=1 - layer.get("moving_average_fraction", 0.999),
                                  affine=False) if len(shape) == 4 else nn.BatchNorm1d(shape[1], affine=False), shape
        if kind in ("Scale", "Bias"):
            module = nn.Module()
            view = (1, shape[1]) + (1,) * (len(shape) - 2)
            if kind == "Scale":
                module.weight = nn.Parameter(torch.ones(view))
            if kind == "Bias" or layer.get("bias_term", False):
                module.bias = nn.Parameter(torch.zeros(view))
            return module, shape
        if kind == "LRN":
            return nn.LocalResponseNorm(layer.get("local_size", 5), layer.get("alpha", 1), layer.get("beta", 0.75), layer.get("k", 1)), shape
        if kind == "Dropout":
            return nn.Dropout(layer.get("dropout_ratio", 0.5)), shape
        if kind in ("ReLU", "Sigmoid", "TanH", "Softmax", "SoftmaxWithLoss", "Eltwise"):
            return None, () if kind == "SoftmaxWithLoss" else shape
        if kind == "Concat":
            axis = layer.get("axis", 1)
            out = list(shape)
            out[axis] = sum(s[axis] for s in bottom_shapes)
            return None, tuple(out)
        if kind == "Flatten":
            return None, (shape[0], math.prod(shape[1:]))
        raise SystemExit(f"layer '{layer['name']}': type {kind} has no PyTorch twin here")

    def forward(self, blobs):
        blobs = dict(blobs)
        loss = None
        for kind, name, bottoms, tops in self.steps:
            x = blobs[bottoms[0]]
            if kind == "ReLU":
                y = F.relu(x)
            elif kind == "Sigmoid":
                y = torch.sigmoid(x)
            elif kind == "TanH":
                y = torch.tanh(x)
            elif kind == "Softmax":
                y = F.softmax(x, 1)
            elif kind == "InnerProduct":
                y = self.layers[name](x.flatten(1))
            elif kind in ("Scale", "Bias"):
                module = self.layers[name]
                y = x * module.weight if hasattr(module, "weight") else x
                y = y + module.bias if hasattr(module, "bias") else y
            elif kind == "Concat":
                y = torch.cat([blobs[b] for b in bottoms], 1)
            elif kind == "Eltwise":
                y = blobs[bottoms[0]]
                for b in bottoms[1:]:
                    y = y + blobs[b]
            elif kind == "Flatten":
                y = x.flatten(1)
            elif kind == "SoftmaxWithLoss":
                y = F.cross_entropy(x, blobs[bottoms[1]])
                loss = y if loss is None else loss + y
            else:
                y = self.layers[name](x)
            for top in tops:
                blobs[top] = y
        return loss, blobs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("net")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, help="the data layers' batch size (default: the file's)")
    parser.add_argument("--inference-only", action="store_true",
                        help="time forward passes only (a deploy net without a loss), as milliseconds per batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    with open(args.net) as f:
        spec = yaml.safe_load(f)
    model = Twin(spec, args.batch)
    solver = spec.get("solver", {})
    lr = solver.get("base_lr", 0.01)
    if solver.get("type", "SGD") == "Adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=solver.get("momentum", 0),
                                    weight_decay=solver.get("weight_decay", 0))

    def batch():
        blobs = {}
        for name, shape in model.inputs.items():
            if shape == "labels":
                continue
            blobs[name] = torch.rand(shape)
            n = shape[0]
        for name, shape in model.inputs.items():
            if shape == "labels":
                blobs[name] = torch.randint(0, 10, (n,))
        return blobs

    batches = [batch() for _ in range(8)]
    images = next(t for t in batches[0].values() if t.dim() > 1).shape[0]

    def step(index):
        loss, _ = model(batches[index % len(batches)])
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()

    if args.inference_only:
        model.eval()
        with torch.no_grad():
            for index in range(2):
                model(batches[index])
            times = []
            for index in range(args.iterations):
                start = time.perf_counter()
                model(batches[index % len(batches)])
                times.append(time.perf_counter() - start)
        print(json.dumps({"inference_ms_per_batch": 1000 * sorted(times)[len(times) // 2], "images": images,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return

    model.train()
    for index in range(10):  # warm-up, not timed
        step(index)
    start = time.perf_counter()
    for index in range(args.iterations):
        step(index)
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        for index in range(3):
            model(batches[index])
        start = time.perf_counter()
        passes = max(10, args.iterations // 5)
        for index in range(passes):
            model(batches[index % len(batches)])
        test_seconds = time.perf_counter() - start

    print(json.dumps({
        "train_images_per_s": args.iterations * images / train_seconds,
        "inference_images_per_s": passes * images / test_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
