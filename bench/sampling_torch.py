#!/usr/bin/python3
# PyTorch peer of the sampling benchmark (DESIGN.md section 8): Euler sampling of --samples
# points over --steps steps through the velocity MLP v(x, t) = MLP([x, t]),
# 3->256->256->256->2 (SiLU, default random init), under torch.no_grad():
#   x <- x0 ~ N(0, I); for k < K: t = k / K; x <- x + (1/K) v(x, t).
# One warm-up run, then the best of R runs from the same x0; prints one JSON line.
# steps_per_s counts Euler steps (one forward of the whole batch each) per second.
# Run with Debian's /usr/bin/python3 (python3-torch 1.13). Its GEMMs go to OpenBLAS,
# whose thread pool torch.set_num_threads does not touch (it defaults to all cores),
# so --threads N sets both; --intra-op M overrides torch's own.
import argparse
import ctypes
import json
import time

import torch

HIDDEN = 256


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(3, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, 2))


@torch.no_grad()
def euler(model, x0, steps):
    x = x0.clone()
    t = torch.empty(x.shape[0], 1)
    dt = 1.0 / steps
    for k in range(steps):
        t.fill_(k * dt)
        x.add_(model(torch.cat([x, t], dim=1)), alpha=dt)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--intra-op", type=int, default=None)
    args = ap.parse_args()
    intra_op = args.intra_op or args.threads
    torch.set_num_threads(intra_op)
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(args.threads)

    torch.manual_seed(0)
    model = make_model().eval()
    x0 = torch.randn(args.samples, 2)
    euler(model, x0, args.steps)  # warm-up: allocator, thread pool, kernel dispatch
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        x1 = euler(model, x0, args.steps)
        best = min(best, time.perf_counter() - start)
    impl = "torch" if intra_op == args.threads else f"torch(intra={intra_op})"
    print(json.dumps({"impl": impl, "threads": args.threads,
                      "steps_per_s": round(args.steps / best, 2),
                      "samples_steps_per_s": float("%.4g" % (args.samples * args.steps / best)),
                      "seconds": round(best, 4),
                      "mean_abs_x1": round(x1.abs().mean().item(), 4)}))


if __name__ == "__main__":
    main()
