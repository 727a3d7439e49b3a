#!/usr/bin/python3
# PyTorch peer of bench/run_unet.sh: the same U-Net as rflow's nn::UNet (src/nn/unet.cpp, default
# UNetConfig with 10 classes: 28x28x1, base 32, mults 1-2-2, 2 res blocks, attention at the 7x7
# level and in the middle, 4 heads, GroupNorm 8, dropout 0.1, label embedding with a null label;
# the parameter count is printed so both sides can be compared).
#   --mode train:  flow-matching steps (x_t = (1-t) x0 + t x1, MSE to x1 - x0, Adam 1e-3) at --batch
#   --mode sample: Euler sampling, --steps steps, under torch.no_grad(), at --batch
# One warm-up, then the best of --repeats; prints one JSON line with the peak RSS of the process
# (run each mode in its own process so the peak belongs to that mode).
# Run with Debian's /usr/bin/python3 (python3-torch 1.13); --threads sets both torch's intra-op
# pool and OpenBLAS's (torch.set_num_threads does not touch the latter), --intra-op overrides.
import argparse
import ctypes
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """x + MHA(GN(x)), one fused qkv projection, as rflow's MultiheadAttention."""

    def __init__(self, ch, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.out = nn.Linear(ch, ch)
        self.heads = heads

    def forward(self, x):
        n, c, hh, ww = x.shape
        l, d = hh * ww, c // self.heads
        tok = self.norm(x).reshape(n, c, l).transpose(1, 2)
        qkv = self.qkv(tok).reshape(n, l, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v
        a = a.permute(0, 2, 1, 3).reshape(n, l, c)
        return x + self.out(a).transpose(1, 2).reshape(n, c, hh, ww)


class UNet(nn.Module):
    def __init__(self, cin=1, base=32, mults=(1, 2, 2), res_blocks=2, attn_levels=(2,), heads=4,
                 num_classes=10, dropout=0.1, groups=8):
        super().__init__()
        emb = 4 * base
        self.base = base
        self.time1, self.time2 = nn.Linear(base, emb), nn.Linear(emb, emb)
        self.label = nn.Embedding(num_classes + 1, emb)
        self.conv_in = nn.Conv2d(cin, base, 3, padding=1)
        skips, ch = [base], base
        self.down = nn.ModuleList()
        for level, m in enumerate(mults):
            out = base * m
            for _ in range(res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, out, emb, groups, dropout)]
                                                + ([Attention(out, heads, groups)] if level in attn_levels else [])))
                ch = out
                skips.append(ch)
            if level + 1 < len(mults):
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, emb, groups, dropout)
        self.mid_attn = Attention(ch, heads, groups)
        self.mid2 = ResBlock(ch, ch, emb, groups, dropout)
        self.up = nn.ModuleList()
        for level in reversed(range(len(mults))):
            out = base * mults[level]
            for _ in range(res_blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), out, emb, groups, dropout)]
                                              + ([Attention(out, heads, groups)] if level in attn_levels else [])))
                ch = out
            if level > 0:
                self.up.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, cin, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # as rflow: training starts from v = 0
        nn.init.zeros_(self.conv_out.bias)

    def time_embedding(self, t):
        half = self.base // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = 1000.0 * t[:, None] * freqs[None]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    def forward(self, x, t, labels):
        emb = self.time2(F.silu(self.time1(self.time_embedding(t)))) + self.label(labels)
        h = self.conv_in(x)
        skips = [h]
        for blk in self.down:
            if isinstance(blk, nn.Conv2d):
                h = blk(h)
            else:
                h = blk[0](h, emb)
                if len(blk) > 1:
                    h = blk[1](h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blk in self.up:
            if isinstance(blk, nn.Conv2d):
                h = blk(F.interpolate(h, scale_factor=2, mode="nearest"))
            else:
                h = blk[0](torch.cat([h, skips.pop()], dim=1), emb)
                if len(blk) > 1:
                    h = blk[1](h)
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["train", "sample"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--intra-op", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    intra_op = args.intra_op or args.threads
    torch.set_num_threads(intra_op)
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(args.threads)
    torch.manual_seed(0)
    model = UNet()
    params = sum(p.numel() for p in model.parameters())
    n = args.batch
    labels = torch.randint(0, 10, (n,))

    if args.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x1 = torch.rand(n, 1, 28, 28) * 2 - 1

        def step():
            x0 = torch.randn_like(x1)
            t = torch.rand(n)
            xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * x1
            drop = torch.rand(n) < 0.1  # label dropout for classifier-free guidance
            loss = F.mse_loss(model(xt, t, torch.where(drop, torch.full_like(labels, 10), labels)), x1 - x0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        def run():
            for _ in range(args.steps):
                last = step()
            return last
    else:
        model.eval()
        x0 = torch.randn(n, 1, 28, 28)

        @torch.no_grad()
        def run():
            x = x0.clone()
            t = torch.empty(n)
            for k in range(args.steps):
                t.fill_(k / args.steps)
                x.add_(model(x, t, labels), alpha=1.0 / args.steps)
            return x.abs().mean().item()

    run()  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - start)
    impl = "torch" if intra_op == args.threads else f"torch(intra={intra_op})"
    row = {"impl": impl, "version": torch.__version__.split("+")[0], "mode": args.mode, "threads": args.threads, "batch": n, "params": params,
           "seconds": round(best, 4), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if args.mode == "train":
        row.update(steps_per_s=round(args.steps / best, 3), final_loss=round(value, 4))
    else:
        row.update(images_per_s=round(n / best, 2), mean_abs_x1=round(value, 4))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
