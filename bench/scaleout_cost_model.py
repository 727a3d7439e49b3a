#!/usr/bin/env python3
"""Cost model of data-parallel training over N ranks (rflow/dist.hpp), from measurements.

Arguments: NAME:PARAMETERS:BATCH:SECONDS_PER_STEP:GLOBAL_BATCH, a step time measured by one
process of this machine at BATCH, and the global batch to model (the step time scales linearly
with the batch: t_1 = SECONDS_PER_STEP * GLOBAL_BATCH / BATCH). Per step, each rank computes its
1/N of the global batch, t_compute = t_1 / N, and all-reduces the gradients: reduce-scatter and all-gather,
sending 2 (N - 1) / N * 4 P bytes per rank, t_comm = that / bandwidth + 2 (N - 1) * latency
(each of the 2 (N - 1) exchange rounds of a ring pays one latency; rflow's Alltoallv /
Allgatherv move the same bytes). rflow does not overlap the all-reduce with backward yet, so the
step takes t_compute + t_comm and the parallel efficiency is t_compute / (t_compute + t_comm).
Links: 100 Gb/s InfiniBand (12.5 GB/s, 2 us) and 10 Gb/s Ethernet (1.25 GB/s, 20 us).
"""
import sys

LINKS = [("IB 100 Gb/s", 12.5e9, 2e-6), ("10 GbE", 1.25e9, 20e-6)]
RANKS = [8, 16, 32, 64, 128, 256]

print("| model | parameters | global batch | one process s/step (modelled) | all-reduce MB/step/rank | "
      + " | ".join(f"eff. N={n} ({name})" for name, _, _ in LINKS[:1] for n in RANKS) + " |")
print("|---" * (5 + len(RANKS)) + "|")
rows = []
for spec in sys.argv[1:]:
    name, p, measured_batch, t_measured, batch = spec.split(":")
    p, batch = int(p), int(batch)
    t1 = float(t_measured) * batch / int(measured_batch)
    cells = []
    for link, bw, lat in LINKS:
        effs = []
        for n in RANKS:
            if batch % n:
                effs.append("n/a")
                continue
            comp = t1 / n
            comm = 2 * (n - 1) / n * 4 * p / bw + 2 * (n - 1) * lat
            effs.append(f"{comp / (comp + comm):.2f}")
        cells.append(effs)
    mb = 2 * 4 * p / 1e6
    print(f"| {name} | {p:,} | {batch} | {t1:.4f} | {mb:.2f} | " + " | ".join(cells[0]) + " |")
    rows.append((name, cells[1]))
print()
print("| model | " + " | ".join(f"eff. N={n} (10 GbE)" for n in RANKS) + " |")
print("|---" * (1 + len(RANKS)) + "|")
for name, effs in rows:
    print(f"| {name} | " + " | ".join(effs) + " |")
print("\n'n/a': the global batch does not divide among N ranks (rflow requires it to).")
