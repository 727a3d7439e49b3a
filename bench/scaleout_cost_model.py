#!/usr/bin/env python3
"""Cost model of data-parallel training over N ranks (rflow/dist.hpp), from measurements.

Arguments: NAME:PARAMETERS:BATCH:SECONDS_PER_STEP:GLOBAL_BATCH, a step time measured by one
process of this machine at BATCH, and the global batch to model (the step time scales linearly
with the batch: t_1 = SECONDS_PER_STEP * GLOBAL_BATCH / BATCH). Per step, each rank computes its
1/N of the global batch, t_compute = t_1 / N, and all-reduces the gradients: reduce-scatter and all-gather,
sending 2 (N - 1) / N * 4 P bytes per rank, t_comm = that / bandwidth + 2 (N - 1) * latency
(each of the 2 (N - 1) exchange rounds of a ring pays one latency, once per bucket; rflow's
Alltoallv / Allgatherv move the same bytes).

Two schedules, printed as "after / overlapped":
- after: the all-reduce runs after backward (RFLOW_ALLREDUCE=sync, or CUDA gradients), in 16 MiB
  buckets; the step takes t_compute + t_comm;
- overlapped: dist::backward_mean's 1 MiB buckets leave while backward runs. Backward is taken as
  2/3 of t_compute (the usual forward : backward = 1 : 2); all the buckets but the last can hide
  behind it, so the step takes t_compute + t_comm - min(t_comm - t_last_bucket, 2/3 t_compute).
The parallel efficiency is t_compute / step time.
Links: 100 Gb/s InfiniBand (12.5 GB/s, 2 us) and 10 Gb/s Ethernet (1.25 GB/s, 20 us).
"""
import math
import sys

LINKS = [("IB 100 Gb/s", 12.5e9, 2e-6), ("10 GbE", 1.25e9, 20e-6)]
RANKS = [8, 16, 32, 64, 128, 256]
SYNC_BUCKET, OVERLAP_BUCKET = 1 << 22, 1 << 18  # floats (rflow/dist.hpp)
BACKWARD_SHARE = 2 / 3


def comm_time(floats, buckets, n, bw, lat):
    return 2 * (n - 1) / n * 4 * floats / bw + buckets * 2 * (n - 1) * lat


models = []
for spec in sys.argv[1:]:
    name, p, measured_batch, t_measured, batch = spec.split(":")
    p, batch = int(p), int(batch)
    models.append((name, p, batch, float(t_measured) * batch / int(measured_batch)))

print("| model | parameters | global batch | one process s/step (modelled) | all-reduce MB/step/rank |")
print("|---" * 5 + "|")
for name, p, batch, t1 in models:
    print(f"| {name} | {p:,} | {batch} | {t1:.4f} | {2 * 4 * p / 1e6:.2f} |")
for link, bw, lat in LINKS:
    print(f"\nParallel efficiency over {link}, all-reduce after backward / overlapped with it:\n")
    print("| model | " + " | ".join(f"N={n}" for n in RANKS) + " |")
    print("|---" * (1 + len(RANKS)) + "|")
    for name, p, batch, t1 in models:
        cells = []
        for n in RANKS:
            if batch % n:
                cells.append("n/a")
                continue
            comp = t1 / n
            after = comm_time(p, math.ceil(p / SYNC_BUCKET), n, bw, lat)
            buckets = math.ceil(p / OVERLAP_BUCKET)
            comm = comm_time(p, buckets, n, bw, lat)
            last = comm_time(p - (buckets - 1) * OVERLAP_BUCKET, 1, n, bw, lat)
            hidden = min(comm - last, BACKWARD_SHARE * comp)
            cells.append(f"{comp / (comp + after):.2f} / {comp / (comp + comm - hidden):.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
print("\n'n/a': the global batch does not divide among N ranks (rflow requires it to).")
