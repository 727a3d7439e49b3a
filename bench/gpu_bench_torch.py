#!/usr/bin/env python3
# PyTorch (CUDA) peer of bench/gpu_bench_rflow.cpp, the same jobs on the same shapes, one JSON line
# each: --job toy (velocity MLP 3 -> 256 x 3 -> 2 SiLU, Adam 1e-3, batch 4096, 8 gaussians),
# --job sample (1e6 points x 100 Euler steps), --job unet (bench/unet_torch.py's U-Net, batch 128),
# --job gemm (F.linear on the layer shapes). Best of --repeats after a warm-up, synchronised.
# Runs with the python3 that holds a CUDA PyTorch (the GPU machine's image).
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def best_of(repeats, f):
    f()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def mlp():
    h = 256
    return torch.nn.Sequential(torch.nn.Linear(3, h), torch.nn.SiLU(), torch.nn.Linear(h, h), torch.nn.SiLU(),
                               torch.nn.Linear(h, h), torch.nn.SiLU(), torch.nn.Linear(h, 2)).cuda()


def eight_gaussians(n):
    k = torch.randint(0, 8, (n,), device="cuda").float()
    centers = torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1) * 4
    return centers + 0.5 * torch.randn(n, 2, device="cuda")


def toy(args):
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, steps, last = 4096, 50, [0.0]

    def run():
        for _ in range(steps):
            x1 = eight_gaussians(n)
            x0 = torch.randn_like(x1)
            t = torch.rand(n, 1, device="cuda")
            loss = F.mse_loss(model(torch.cat([(1 - t) * x0 + t * x1, t], 1)), x1 - x0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last[0] = loss.item()  # rflow reads each step's loss too

    s = best_of(args.repeats, run)
    return {"job": "toy", "batch": n, "steps_per_s": steps / s, "loss": last[0]}


@torch.no_grad()
def sample(args):
    model = mlp()
    x0 = torch.randn(1000000, 2, device="cuda")
    out = [None]

    def run():
        x = x0
        for i in range(100):
            t = torch.full((x.shape[0], 1), i / 100, device="cuda")
            x = x + model(torch.cat([x, t], 1)) / 100
        out[0] = x

    s = best_of(args.repeats, run)
    return {"job": "sample", "points": 1000000, "euler_steps": 100, "seconds": s,
            "mean_abs": out[0].abs().mean().item()}


def unet(args):
    from unet_torch import UNet
    torch.manual_seed(0)
    model = UNet().cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, steps = 128, 10
    labels = torch.randint(0, 10, (n,), device="cuda")
    x1 = torch.rand(n, 1, 28, 28, device="cuda") * 2 - 1
    last = [0.0]

    def run():
        for _ in range(steps):
            x0 = torch.randn_like(x1)
            t = torch.rand(n, device="cuda")
            xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * x1
            drop = torch.rand(n, device="cuda") < 0.1
            loss = F.mse_loss(model(xt, t, torch.where(drop, torch.full_like(labels, 10), labels)), x1 - x0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last[0] = loss.item()

    s = best_of(args.repeats, run)
    return {"job": "unet", "batch": n, "steps_per_s": steps / s, "loss": last[0]}


@torch.no_grad()
def gemm(args):
    rows = []
    for layer, m, k, n in [("toy hidden b4096", 4096, 256, 256), ("toy input b4096", 4096, 3, 256),
                           ("toy hidden b1e6", 1000000, 256, 256), ("toy output b1e6", 1000000, 256, 2),
                           ("unet attn qkv", 128 * 49, 64, 192), ("unet time mlp", 128, 128, 128),
                           ("dit mlp up", 128 * 49, 128, 512), ("dit mlp down", 128 * 49, 512, 128),
                           ("square 4096", 4096, 4096, 4096)]:
        x = torch.rand(m, k, device="cuda") * 2 - 1
        w = torch.rand(n, k, device="cuda") * 2 - 1
        iters = 5 if m * k * n > 2 ** 33 else 50

        def run():
            for _ in range(iters):
                F.linear(x, w)

        s = best_of(args.repeats, run) / iters
        rows.append({"job": "gemm", "layer": layer, "m": m, "k": k, "n": n, "torch_tflops": 2.0 * m * k * n / s * 1e-12})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", choices=["toy", "sample", "unet", "gemm"], required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tf32", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_bench_torch: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    res = {"toy": toy, "sample": sample, "unet": unet, "gemm": gemm}[args.job](args)
    for r in res if isinstance(res, list) else [res]:
        r.update({"impl": "torch", "tf32": args.tf32, "torch": torch.__version__})
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
