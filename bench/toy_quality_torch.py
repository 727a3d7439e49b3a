#!/usr/bin/python3
# PyTorch reference of the toy quality recipes (issue 17; not a test): the same data, networks,
# optimiser settings and metric as `rflow gan train` and `rflow train` + Euler-100, so that a
# quality gap can be told apart from seed noise. Prints one JSON line per evaluation.
#
#   wgan-gp: 8gaussians (rflow's definition: radius 2, std 0.1), generator 2->512^3->2 and critic
#            2->512^3->1 (--activation, ReLU default), batch 256, n_critic 5, Adam 1e-4 betas
#            (0.5, 0.9), lambda 10 (--lambda) with one t ~ U[0, 1] per sample, 1000 generator steps.
#   moons:   1-RF, velocity MLP (x, t) 3->256^3->2 SiLU, batch 1024, Adam 1e-3, 5000 steps, fresh
#            data and x0 ~ N(0, I), t ~ U[0, 1] every step; samples by Euler with 100 steps.
#   metric:  sliced W2, 256 random unit directions, 10,000 model samples against 10,000 data
#            points: sqrt(mean over directions of mean squared difference of sorted projections),
#            with the data-vs-data floor (two independent 10,000-point draws) beside it.
#
# Usage: python3 bench/toy_quality_torch.py wgan-gp --seed 0 [--activation relu] [--steps 1000]
#        python3 bench/toy_quality_torch.py moons --seed 0 [--steps 5000] [--ema 0.999]
#        python3 bench/toy_quality_torch.py moons --seed 0 --score samples.csv
#            scores rflow's points (`rflow sample -n 10000 -o samples.csv`) with this script's
#            metric, reference set and floor, so both libraries are measured by one ruler.
# Runs with Debian's python3-torch (1.13); prints the torch version in every line.
import argparse
import json
import math

import torch


def eight_gaussians(n):
    k = torch.randint(0, 8, (n,)).float()
    c = 2.0 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], dim=1)
    return c + 0.1 * torch.randn(n, 2)


def moons(n):
    upper = torch.rand(n) < 0.5
    a = torch.rand(n) * math.pi
    x = torch.where(upper, torch.cos(a), 1 - torch.cos(a))
    y = torch.where(upper, torch.sin(a), 0.5 - torch.sin(a))
    p = torch.stack([x, y], dim=1) + 0.05 * torch.randn(n, 2)
    return (p - torch.tensor([0.5, 0.25])) * (4.0 / 3.0)


def sliced_w2(a, b, gen, projections=256):
    d = torch.randn(a.shape[1], projections, generator=gen, dtype=torch.float64)
    d = d / d.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a.double() @ d, dim=0)
    pb, _ = torch.sort(b.double() @ d, dim=0)
    return math.sqrt(((pa - pb) ** 2).mean().item())


def mlp(inp, width, depth, out, act):
    layers, k = [], inp
    for _ in range(depth):
        layers += [torch.nn.Linear(k, width), act()]
        k = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(k, out))


ACTS = {"relu": torch.nn.ReLU, "silu": torch.nn.SiLU}


def report(args, step, model_points, data):
    gen = torch.Generator().manual_seed(1000 + args.seed)
    floor_gen = torch.Generator().manual_seed(1000 + args.seed)
    torch.manual_seed(10_000 + args.seed)
    fresh = data(10_000)
    row = {"recipe": args.recipe, "seed": args.seed, "step": step, "torch": torch.__version__, "ema": args.ema,
           "sliced_w2": sliced_w2(model_points, args.reference, gen),
           "sliced_w2_floor": sliced_w2(fresh, args.reference, floor_gen)}
    print(json.dumps(row), flush=True)


def wgan_gp(args):
    act = ACTS[args.activation]
    G, D = mlp(2, 512, 3, 2, act), mlp(2, 512, 3, 1, act)
    og = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
    od = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    for step in range(1, args.steps + 1):
        for _ in range(5):
            real = eight_gaussians(256)
            with torch.no_grad():
                fake = G(torch.randn(256, 2))
            t = torch.rand(256, 1)
            xt = (t * real + (1 - t) * fake).requires_grad_(True)
            g, = torch.autograd.grad(D(xt).sum(), xt, create_graph=True)
            penalty = args.penalty_weight * ((g.norm(dim=1) - 1) ** 2).mean()
            loss = D(fake).mean() - D(real).mean() + penalty
            od.zero_grad()
            loss.backward()
            od.step()
        for p in D.parameters():
            p.requires_grad_(False)
        loss = -D(G(torch.randn(256, 2))).mean()
        og.zero_grad()
        loss.backward()
        og.step()
        for p in D.parameters():
            p.requires_grad_(True)
        if step % args.eval_every == 0 or step == args.steps:
            with torch.no_grad():
                report(args, step, G(torch.randn(10_000, 2)), eight_gaussians)


def moons_flow(args):
    v = mlp(3, 256, 3, 2, torch.nn.SiLU)
    opt = torch.optim.Adam(v.parameters(), lr=1e-3)
    # --ema D: rflow's EMA with warmup, d = min(D, (1 + n) / (10 + n)) after n updates; samples use it
    shadow = [p.detach().clone() for p in v.parameters()]
    for step in range(1, args.steps + 1):
        x1, x0, t = moons(1024), torch.randn(1024, 2), torch.rand(1024, 1)
        xt = (1 - t) * x0 + t * x1
        loss = ((v(torch.cat([xt, t], dim=1)) - (x1 - x0)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + step - 1) / (10 + step - 1))
            for s, p in zip(shadow, v.parameters()):
                s.mul_(d).add_(p, alpha=1 - d)
        if step % args.eval_every == 0 or step == args.steps:
            with torch.no_grad():
                raw = [p.detach().clone() for p in v.parameters()]
                if args.ema > 0:
                    for s, p in zip(shadow, v.parameters()):
                        p.copy_(s)
                x = torch.randn(10_000, 2)
                for i in range(100):
                    x = x + v(torch.cat([x, torch.full((10_000, 1), i / 100)], dim=1)) / 100
                for r, p in zip(raw, v.parameters()):
                    p.copy_(r)
            report(args, step, x, moons)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("recipe", choices=["wgan-gp", "moons"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--activation", choices=sorted(ACTS), default="relu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lambda", dest="penalty_weight", type=float, default=10.0,
                    help="wgan-gp: penalty weight (rflow's default on points is 0.1, the authors' toy value)")
    ap.add_argument("--ema", type=float, default=0.0, help="moons: EMA decay with warmup (0 = off, the raw weights)")
    ap.add_argument("--score", metavar="CSV", help="score these points (x,y rows after a header) instead of training")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.steps = args.steps or (1000 if args.recipe == "wgan-gp" else 5000)
    args.eval_every = args.eval_every or (250 if args.recipe == "wgan-gp" else 1000)
    data = eight_gaussians if args.recipe == "wgan-gp" else moons
    torch.manual_seed(20_000 + args.seed)
    args.reference = data(10_000)
    torch.manual_seed(args.seed)
    if args.score:
        with open(args.score) as f:
            rows = [line.split(",") for line in f.read().split("\n")[1:] if line.strip()]
        report(args, "score:" + args.score, torch.tensor([[float(a), float(b)] for a, b in rows]), data)
        return
    (wgan_gp if args.recipe == "wgan-gp" else moons_flow)(args)


if __name__ == "__main__":
    main()
