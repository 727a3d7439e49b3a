#!/usr/bin/python3
# PyTorch peer of bench/run_attention.sh: the same attention layer as rflow's nn::make_attention
# (src/nn/attention.cpp, src/nn/mla.cpp) with the same projections and parameter count, timed for
# forward + backward of loss = sum(out * w) (w fixed, random) to the input and every parameter.
#   mha/gqa/mqa: one fused qkv Linear (with bias) of width h d + 2 g d, out Linear (with bias); keys
#                and values are repeat_interleave'd from g groups to h heads (head s reads group
#                s g / h, as rflow).
#   mla:         c = RMSNorm(x W_dkv) [d_c 64], k_r = RoPE(x W_kr) [d_r 16, shared by all heads],
#                c' = RMSNorm(x W_dq) [d'_c 96], q = [c' W_uq, RoPE(c' W_qr)], k = [c W_uk, k_r],
#                v = c W_uv (no biases), out Linear with bias; scale 1 / sqrt(d_k + d_r); RMSNorm eps
#                1e-6 with a weight; RoPE rotates pairs (x_i, x_{i+D/2}) by pos * 10000^(-2i/D).
# PyTorch 1.13 has no scaled_dot_product_attention, so attention is the plain materialised
# softmax((q * scale) k^T) v (an [N, h, L, L] score matrix; the scale goes on q, not on the scores,
# to spare torch one pass over the L x L matrix) -- the common way to write attention in 1.13.
# One warm-up step, then the best of --repeats timings of --steps steps; prints one JSON line with the
# peak RSS of the process and its RSS right before the first step. Run with Debian's
# /usr/bin/python3 (python3-torch 1.13); --threads sets both torch's intra-op pool and OpenBLAS's.
# --check DIR (after attention_rflow --dump DIR) loads rflow's weights, x and w into this layer, runs
# one step and compares the output, loss and every gradient with rflow's; exits 1 on a mismatch.
import argparse
import ctypes
import json
import math
import resource
import time

import torch
import torch.nn as nn


def current_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class GroupedQueryAttention(nn.Module):
    def __init__(self, dim, heads, kv_heads, head_dim):
        super().__init__()
        self.h, self.g, self.d = heads, kv_heads, head_dim
        self.qkv = nn.Linear(dim, (heads + 2 * kv_heads) * head_dim)
        self.out = nn.Linear(heads * head_dim, dim)

    def forward(self, x):
        n, l, _ = x.shape
        h, g, d = self.h, self.g, self.d
        q, k, v = self.qkv(x).split([h * d, g * d, g * d], dim=-1)
        q = q.reshape(n, l, h, d).transpose(1, 2)
        k = k.reshape(n, l, g, d).transpose(1, 2)
        v = v.reshape(n, l, g, d).transpose(1, 2)
        if g != h:
            k = k.repeat_interleave(h // g, dim=1)
            v = v.repeat_interleave(h // g, dim=1)
        a = torch.softmax((q * (1.0 / math.sqrt(d))) @ k.transpose(-1, -2), dim=-1) @ v
        return self.out(a.transpose(1, 2).reshape(n, l, h * d))


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, base=10000.0):
    """1-D RoPE of x [..., L, D] at positions 0 .. L-1, pairs (x_i, x_{i+D/2}), as rflow::rope."""
    l, dd = x.shape[-2], x.shape[-1]
    half = dd // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / dd)
    theta = (torch.arange(l, dtype=torch.float64)[:, None] * inv[None]).float()
    c, s = torch.cos(theta), torch.sin(theta)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)


class LatentAttention(nn.Module):
    def __init__(self, dim, heads, head_dim, kv_latent, q_latent, rope_dim):
        super().__init__()
        self.h, self.d, self.dr = heads, head_dim, rope_dim
        self.dkv = nn.Linear(dim, kv_latent, bias=False)
        self.kv_norm = RMSNorm(kv_latent)
        self.uk = nn.Linear(kv_latent, heads * head_dim, bias=False)
        self.uv = nn.Linear(kv_latent, heads * head_dim, bias=False)
        self.kr = nn.Linear(dim, rope_dim, bias=False)
        self.dq = nn.Linear(dim, q_latent, bias=False)
        self.q_norm = RMSNorm(q_latent)
        self.uq = nn.Linear(q_latent, heads * head_dim, bias=False)
        self.qr = nn.Linear(q_latent, heads * rope_dim, bias=False)
        self.out = nn.Linear(heads * head_dim, dim)

    def forward(self, x):
        n, l, _ = x.shape
        h, d, dr = self.h, self.d, self.dr
        c = self.kv_norm(self.dkv(x))
        kr = rope(self.kr(x).reshape(n, 1, l, dr))
        cq = self.q_norm(self.dq(x))
        qc = self.uq(cq).reshape(n, l, h, d).transpose(1, 2)
        qr = rope(self.qr(cq).reshape(n, l, h, dr).transpose(1, 2))
        kc = self.uk(c).reshape(n, l, h, d).transpose(1, 2)
        v = self.uv(c).reshape(n, l, h, d).transpose(1, 2)
        q = torch.cat([qc, qr], dim=-1)
        k = torch.cat([kc, kr.expand(n, h, l, dr)], dim=-1)
        a = torch.softmax((q * (1.0 / math.sqrt(d + dr))) @ k.transpose(-1, -2), dim=-1) @ v
        return self.out(a.transpose(1, 2).reshape(n, l, h * d))


def make_layer(variant, dim=256, heads=8, head_dim=32):
    if variant == "mla":
        return LatentAttention(dim, heads, head_dim, kv_latent=64, q_latent=96, rope_dim=16)
    kv_heads = {"mha": heads, "gqa": 2, "mqa": 1}[variant]
    return GroupedQueryAttention(dim, heads, kv_heads, head_dim)


def check(variant, directory, tol=1e-3):
    """Same weights and inputs as rflow's dump: the output and all gradients must agree."""
    import numpy as np
    t = {}
    for line in open(f"{directory}/manifest.txt"):
        name, *dims = line.split()
        a = np.fromfile(f"{directory}/{name}.bin", dtype=np.float32).reshape([int(d) for d in dims])
        t[name] = torch.from_numpy(a)
    layer = make_layer(variant)
    names = {n for n, _ in layer.named_parameters()}
    dumped = {n[len("param."):] for n in t if n.startswith("param.")}
    assert names == dumped, f"parameter names differ: torch {sorted(names)} rflow {sorted(dumped)}"
    with torch.no_grad():
        for n, p in layer.named_parameters():
            p.copy_(t["param." + n])
    x = t["x"].clone().requires_grad_(True)
    out = layer(x)
    loss = (out * t["w"]).sum()
    loss.backward()
    got = {"out": out, "loss": loss, "grad.x": x.grad}
    got.update({"grad." + n: p.grad for n, p in layer.named_parameters()})
    errors = {k: (v.detach() - t[k]).abs().max().item() / max(t[k].abs().max().item(), 1e-6) for k, v in got.items()}
    worst = max(errors, key=errors.get)
    ok = errors[worst] <= tol
    print(json.dumps({"check": variant, "ok": ok, "worst": worst, "max_rel_err": float("%.3g" % errors[worst]),
                      "compared": len(errors)}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["mha", "gqa", "mqa", "mla"], required=True)
    ap.add_argument("--len", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check", metavar="DIR", help="compare with attention_rflow --dump DIR and exit")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(check(args.variant, args.check))
    if args.len is None or args.batch is None:
        ap.error("--len and --batch are required")
    torch.set_num_threads(args.threads)
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(args.threads)
    torch.manual_seed(0)
    dim = 256
    layer = make_layer(args.variant, dim)
    params = sum(p.numel() for p in layer.parameters())
    x = torch.randn(args.batch, args.len, dim, requires_grad=True)
    w = torch.randn(args.batch, args.len, dim)

    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        loss = (layer(x) * w).sum()
        loss.backward()
        return loss.item()

    rss_before = current_rss_mib()
    step()  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        best = min(best, (time.perf_counter() - start) / args.steps)
    row = {"impl": "torch", "variant": args.variant, "len": args.len, "batch": args.batch,
           "threads": args.threads, "params": params, "ms_per_step": round(best * 1e3, 2),
           "rss_before_mib": round(rss_before, 1),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "loss": float("%.4g" % loss), "mean_abs_dx": float("%.4g" % x.grad.abs().mean().item())}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
