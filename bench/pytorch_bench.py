"""The same nets and solver as nets/lenet.yaml, nets/mlp.yaml and nets/lstm_rows.yaml, in
PyTorch, for bench/bench.py.

Caffe's xavier filler (uniform ±sqrt(3 / fan_in)), zero biases, SGD with momentum 0.9,
weight decay 0.0005 on every parameter, bias learning rate ×2 and the `inv` learning-rate
policy, so that both frameworks do the same work per iteration. lstm_rows is nn.LSTM(28, 128)
over the 28 rows of each image (time-major, as SwiftCaffe's LSTM), the last step's hidden
state into Linear(128, 10), uniform ±0.08 weights and zero biases, Adam at 0.002. (nn.LSTM
has two bias vectors where Caffe's has one: 512 more additions a step, nothing to time.) Data is Fashion-MNIST from
Debian's dataset-fashion-mnist, kept as bytes and converted per batch like SwiftCaffe does.

Prints one JSON line: training and inference images/s and the process's peak RSS. With
--epoch it trains one epoch with no warm-up and no test, as bench/whole_process.py times the
whole process, and prints the seconds each part took instead.
"""
import time

STARTED = time.perf_counter()  # before the imports, which are part of a whole process's cost

import argparse
import gzip
import json
import resource

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FOLDER = "/usr/share/datasets/fashion-mnist"


def load(images, labels):
    with gzip.open(f"{FOLDER}/{images}") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{FOLDER}/{labels}") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        return self.ip2(F.relu(self.ip1(x.flatten(1))))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.ip1 = nn.Linear(784, 512)
        self.ip2 = nn.Linear(512, 512)
        self.ip3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.ip1(x.flatten(1)))
        return self.ip3(F.relu(self.ip2(x)))


class LSTMRows(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128)
        self.classify = nn.Linear(128, 10)
        for name, parameter in self.lstm.named_parameters():
            if name.startswith("weight"):
                nn.init.uniform_(parameter, -0.08, 0.08)
            else:
                nn.init.zeros_(parameter)

    def forward(self, x):
        rows = x.flatten(1, 2).permute(1, 0, 2)  # N×1×28×28 -> 28×N×28, time first
        hidden, _ = self.lstm(rows)
        return self.classify(hidden[-1])


def caffe_xavier(model):
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            bound = (3.0 / fan_in) ** 0.5
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("net", choices=["lenet", "mlp", "lstm_rows"])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epoch", action="store_true", help="one epoch, no warm-up, no test; print each part's seconds")
    args = parser.parse_args()
    imported = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x, train_y = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    if not args.epoch:
        test_x, test_y = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if args.net == "lstm_rows":
        model = LSTMRows()
        caffe_xavier(model.classify)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-8)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1875, gamma=0.5)
    else:
        model = LeNet() if args.net == "lenet" else MLP()
        caffe_xavier(model)
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        base_lr = 0.01
        optimizer = torch.optim.SGD([{"params": weights, "lr": base_lr}, {"params": biases, "lr": 2 * base_lr}],
                                    lr=base_lr, momentum=0.9, weight_decay=0.0005)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 + 0.0001 * it) ** -0.75)

    loaded = time.perf_counter()
    batch = 64
    order = torch.randperm(len(train_x))
    position = 0

    def step():
        nonlocal position, order
        if position + batch > len(order):
            order = torch.randperm(len(train_x))
            position = 0
        index = order[position:position + batch]
        position += batch
        x = train_x[index].float().mul_(1 / 256)
        loss = F.cross_entropy(model(x), train_y[index])
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss

    model.train()
    if args.epoch:
        iterations = -(-len(train_x) // batch)
        step()
        first = time.perf_counter()
        for _ in range(iterations - 1):
            step()
        done = time.perf_counter()
        print(json.dumps({"iterations": iterations, "imports_s": imported - STARTED, "data_s": loaded - imported,
                          "first_iteration_s": first - loaded, "training_s": done - first, "in_process_s": done - STARTED,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    for _ in range(20):  # warm-up, not timed
        step()
    start = time.perf_counter()
    for _ in range(args.iterations):
        step()
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        correct = 0
        for first in range(0, len(test_x), 100):
            scores = model(test_x[first:first + 100].float().mul_(1 / 256))
            correct += (scores.argmax(1) == test_y[first:first + 100]).sum().item()
        test_seconds = time.perf_counter() - start

    print(json.dumps({
        "train_images_per_s": args.iterations * batch / train_seconds,
        "inference_images_per_s": len(test_x) / test_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
