#!/usr/bin/env python3
"""How data-parallel training scales with the number of machines: a model from measured
per-machine figures (docs/distributed.md explains the inputs and the numbers it prints).

A ring allreduce over N machines moves 2(N-1)/N x the gradient bytes through each machine's
link, in 2(N-1) steps that each pay the link's latency:

    T_sum(N) = 2(N-1)/N x bytes / (efficiency x bandwidth) + 2(N-1) x latency

One iteration computes for T_compute (forward + backward of the per-machine batch) and then
waits for the part of T_sum that backward did not hide. SwiftCaffe starts each layer's sum
when that layer's backward ends, so at best the sums hide behind the rest of backward
(exposed = max(0, T_sum - T_backward)); at worst nothing is hidden (exposed = T_sum).
Scaling efficiency = T_compute / (T_compute + exposed): the fraction of N x one machine's
throughput that N machines reach.

    bench/scaling_model.py [--latency-us 50] [--efficiency 0.9]
"""
import argparse

# name, parameters, seconds per iteration on one machine (2 cores) at its per-machine batch,
# backward's share of it, the per-machine batch. See docs/distributed.md for where they come from.
NETS = [
    ("LeNet (nets/lenet.yaml)", 431_080, 64 / 4_440, 0.60, 64),
    ("ResNet-50-size, 25.6 M parameters", 25_557_032, 32 * 3 * 1.342 / 16, 0.67, 32),
]
LINKS_GBPS = [10, 25, 100]
MACHINES = [2, 4, 8, 16, 32, 64]


def allreduce_seconds(bytes_, machines, gbps, latency, efficiency):
    return 2 * (machines - 1) / machines * bytes_ / (efficiency * gbps * 1e9 / 8) + 2 * (machines - 1) * latency


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-us", type=float, default=50, help="per ring step (TCP across a switch: 20-100 us)")
    parser.add_argument("--efficiency", type=float, default=0.9, help="share of the line rate TCP reaches")
    parser.add_argument("--speedup", type=float, default=1, help="a machine this many times faster than these 2 cores (a GPU: ~100)")
    args = parser.parse_args()
    for name, parameters, compute, backward_share, batch in NETS:
        compute /= args.speedup
        bytes_ = parameters * 4
        print(f"{name}: {bytes_ / 1e6:.1f} MB of gradients, {compute * 1e3:.1f} ms per iteration of {batch} per machine")
        print("  machines " + "".join(f"{n:>14}" for n in MACHINES))
        for gbps in LINKS_GBPS:
            cells = []
            for n in MACHINES:
                total = allreduce_seconds(bytes_, n, gbps, args.latency_us * 1e-6, args.efficiency)
                worst = compute / (compute + total)
                best = compute / (compute + max(0, total - backward_share * compute))
                cells.append(f"{100 * worst:5.0f}-{100 * best:3.0f}%")
            print(f"  {gbps:>3} Gb/s " + "".join(f"{c:>14}" for c in cells))
        print()


if __name__ == "__main__":
    main()
