#!/usr/bin/python3
# PyTorch peer of the toy flow-matching benchmark (DESIGN.md section 8).
# Trains a velocity MLP 3->256->256->256->2 (SiLU) on 8-gaussians 2-D data:
# batch 1024, Adam lr 1e-3. Each step draws x1 (8 gaussians, radius 4, std 0.5),
# x0 ~ N(0,I), t ~ U[0,1]; x_t = (1-t)x0 + t x1; loss = MSE(v(x_t,t), x1 - x0).
# After 20 warm-up steps, times R runs of --steps steps (each from a fresh
# model and optimizer, same seed) and prints one JSON line with the best run.
# Run with Debian's /usr/bin/python3 (python3-torch 1.13). Its GEMMs go to
# OpenBLAS, whose thread pool torch.set_num_threads does not touch (it defaults
# to all cores), so --threads N sets both; --intra-op M overrides torch's own.
import argparse
import ctypes
import json
import math
import time

import torch

BATCH, HIDDEN, LR = 1024, 256, 1e-3


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(3, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.SiLU(),
        torch.nn.Linear(HIDDEN, 2))


def eight_gaussians(n):
    k = torch.randint(0, 8, (n,))
    angle = k.float() * (math.pi / 4)
    centres = 4.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + 0.5 * torch.randn(n, 2)


def train(steps, seed=0):
    """Trains a fresh model for `steps` steps; returns (seconds, final loss)."""
    torch.manual_seed(seed)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for _ in range(steps):
        x1 = eight_gaussians(BATCH)
        x0 = torch.randn(BATCH, 2)
        t = torch.rand(BATCH, 1)
        xt = (1 - t) * x0 + t * x1
        loss = torch.nn.functional.mse_loss(model(torch.cat([xt, t], dim=1)), x1 - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    final = loss.item()
    return time.perf_counter() - start, final


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--intra-op", type=int, default=None)
    args = ap.parse_args()
    intra_op = args.intra_op or args.threads
    torch.set_num_threads(intra_op)
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(args.threads)

    train(20)  # warm-up: allocator, thread pool, kernel dispatch
    runs = [train(args.steps) for _ in range(args.repeats)]
    best, final_loss = min(runs)
    impl = "torch" if intra_op == args.threads else f"torch(intra={intra_op})"
    print(json.dumps({"impl": impl, "threads": args.threads,
                      "steps_per_s": round(args.steps / best, 2),
                      "final_loss": round(final_loss, 5)}))


if __name__ == "__main__":
    main()
