#!/usr/bin/env python3
"""PyTorch twin of rflow's VelocityMLP and UNet: loads an rflow checkpoint and matches its outputs.

The modules below mirror src/nn/velocity_mlp.cpp, mlp.cpp, time_embedding.cpp, unet.cpp,
attention.cpp (mha, default 1/sqrt(d) scale), norm.cpp (GroupNorm eps 1e-5) and conv.cpp layer
for layer, with the same parameter names, so rflow's "model.<name>" tensors load as a strict
state dict and a torch state dict saved from the twin uses rflow's names. EMA weights are the
optimizer tensors "optim.ema.shadow.<i>", one per parameter in rflow's parameters() order, which
the twin's registration order reproduces (rflow::load_model in src/models/registry.cpp does the
same). Works with torch 1.13 (Debian's python3-torch) and 2.x; needs numpy, not `safetensors`.

Library:  from torch_twin import load_rflow
          model, info = load_rflow("checkpoint.safetensors")   # EMA weights; use_ema=False: raw
          v = model(x, t)                                      # x [N, ...], t [N]; labels=... optional
CLI (same as build/examples/velocity_eval, so the outputs can be compared):
          torch_twin.py CHECKPOINT INPUTS.safetensors OUTPUT.safetensors [--raw] [--save-state-dict F.pt]
Time runs from noise (t = 0) to data (t = 1). DiT, text-DiT and LoRA checkpoints are not mirrored
(merge an adapter first with `rflow lora merge`).
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---- safetensors, read and written by hand (8-byte little-endian header length, JSON, data) ----

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """Returns (tensors: name -> numpy array, metadata: dict of strings), in file order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes, not a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = body[begin:end]
        if e["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] in _DTYPES:
            a = np.frombuffer(raw, dtype=np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {e['dtype']}")
        tensors[name] = a.reshape(e["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes name -> array (float32 unless the array is int64) with the header space-padded to 8."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        a = np.ascontiguousarray(a.astype("<i8" if a.dtype == np.int64 else "<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "I64" if a.dtype == np.int64 else "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- layers (rflow src/nn) ----

_ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                "softplus": F.softplus, "identity": lambda x: x}


class Activation(nn.Module):
    """rflow nn::Activation: an element-wise function by name (GELU is the exact erf form)."""

    def __init__(self, name):
        super().__init__()
        if name not in _ACTIVATIONS:
            raise ValueError(f"unknown activation '{name}'")
        self.name = name

    def forward(self, x):
        return _ACTIVATIONS[self.name](x)


class SinusoidalEmbedding(nn.Module):
    """e(t) = [cos(1000 t w_i), sin(1000 t w_i)], w_i = 10000^(-i/h), h = dim/2; buffer 'freqs'."""

    def __init__(self, dim, scale=1000.0, max_period=10000.0):
        super().__init__()
        h = dim // 2
        i = np.arange(h, dtype=np.float32)
        freqs = np.exp(-np.float32(math.log(max_period)) * i / np.float32(h)).astype(np.float32)
        self.scale = scale
        self.register_buffer("freqs", torch.from_numpy(freqs))

    def forward(self, t):
        arg = t.reshape(-1, 1) * self.scale * self.freqs
        return torch.cat([torch.cos(arg), torch.sin(arg)], 1)


class FourierEmbedding(nn.Module):
    """e(t) = [sin(2 pi t b), cos(2 pi t b)]; b (buffer, dim/2) comes from the checkpoint."""

    def __init__(self, dim):
        super().__init__()
        self.register_buffer("b", torch.zeros(dim // 2))

    def forward(self, t):
        arg = t.reshape(-1, 1) * 6.283185307179586 * self.b
        return torch.cat([torch.sin(arg), torch.cos(arg)], 1)


class MLP(nn.Module):
    """rflow nn::MLP: net.0 Linear, net.1 activation, ..., last Linear (names net.<i>.weight)."""

    def __init__(self, d_in, hidden, d_out, activation):
        super().__init__()
        layers, width = [], d_in
        for h in hidden:
            layers += [nn.Linear(width, h), Activation(activation)]
            width = h
        layers.append(nn.Linear(width, d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class VelocityMLP(nn.Module):
    """v(x, t) = MLP([x, e(t)]), e = t itself ('none'), sinusoidal or fourier (velocity_mlp.cpp)."""

    def __init__(self, cfg):
        super().__init__()
        self.data_dim = cfg["data_dim"]
        kind, t_dim = cfg["time_embedding"], 1
        if kind == "sinusoidal":
            self.time_embed, t_dim = SinusoidalEmbedding(cfg["embedding_dim"]), cfg["embedding_dim"]
        elif kind == "fourier":
            self.time_embed, t_dim = FourierEmbedding(cfg["embedding_dim"]), cfg["embedding_dim"]
        elif kind == "none":
            self.time_embed = None
        else:
            raise ValueError(f"unknown time embedding '{kind}'")
        self.mlp = MLP(self.data_dim + t_dim, [cfg["hidden"]] * cfg["depth"], self.data_dim, cfg["activation"])
        self.num_classes = 0

    def forward(self, x, t, labels=None):
        tc = t.reshape(x.shape[0], 1)
        feat = self.time_embed(tc) if self.time_embed is not None else tc
        return self.mlp(torch.cat([x, feat], 1))


class Attention(nn.Module):
    """rflow mha self-attention: qkv Linear(dim, 3 dim) split [q | k | v], heads of dim/heads,
    softmax(q k^T / sqrt(d)) v, merged heads, out Linear (attention.cpp GroupedQueryAttention)."""

    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention: dim {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):  # x [N, L, dim]
        n, length, _ = x.shape
        h, d = self.heads, self.head_dim
        q, k, v = (p.reshape(n, length, h, d).permute(0, 2, 1, 3) for p in self.qkv(x).split(h * d, -1))
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d)), -1)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(n, length, h * d)
        return self.out(o)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> + Linear(SiLU(emb)) -> GN -> SiLU -> dropout -> conv3x3, 1x1 skip
    when the width changes (unet.cpp ResBlock)."""

    def __init__(self, c_in, c_out, emb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in, eps=1e-5)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1, 1, 0) if c_in != c_out else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttentionBlock(nn.Module):
    """x + MHA(GN(x)) over the H*W positions as tokens."""

    def __init__(self, ch, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-5)
        self.attn = Attention(ch, heads)

    def forward(self, x):
        n, c, h, w = x.shape
        tokens = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        return x + self.attn(tokens).transpose(1, 2).reshape(n, c, h, w)


class UNet(nn.Module):
    """rflow nn::UNet (unet.cpp): conv_in, per level res_blocks ResBlocks (+ attention) and a
    stride-2 conv, middle (res, attention, res), the up path with concatenated skips (res_blocks + 1
    blocks per level, nearest x2 then conv), GroupNorm, SiLU, conv_out. The time embedding is
    Linear(SiLU(Linear(sinusoidal(t)))) of width 4 base; a class model adds label_embed[label]
    (label num_classes = null, the default)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        base, levels, groups, drop = cfg["base_channels"], len(cfg["channel_mults"]), cfg["groups"], cfg["dropout"]
        emb, heads, attn_levels = 4 * base, cfg["heads"], set(cfg["attention_levels"])
        self.num_classes = cfg["num_classes"]
        self.time_embed = SinusoidalEmbedding(base)
        self.time_mlp1 = nn.Linear(base, emb)
        self.time_mlp2 = nn.Linear(emb, emb)
        self.label_embed = nn.Embedding(self.num_classes + 1, emb) if self.num_classes > 0 else None
        self.conv_in = nn.Conv2d(cfg["in_channels"], base, 3, 1, 1)
        self.down, self.up = [], []  # steps in order: ("res", block, attn or None) or ("resample", conv)
        skip_channels, ch = [base], base
        for level in range(levels):
            out = base * cfg["channel_mults"][level]
            for b in range(cfg["res_blocks"]):
                name = f"down{level}_{b}"
                res = self._add(name, ResBlock(ch, out, emb, groups, drop))
                attn = self._add(name + "_attn", AttentionBlock(out, heads, groups)) if level in attn_levels else None
                self.down.append(("res", res, attn))
                ch = out
                skip_channels.append(ch)
            if level + 1 < levels:
                self.down.append(("resample", self._add(f"down{level}_resample", nn.Conv2d(ch, ch, 3, 2, 1)), None))
                skip_channels.append(ch)
        self.mid1 = ResBlock(ch, ch, emb, groups, drop)
        self.mid_attn = AttentionBlock(ch, heads, groups)
        self.mid2 = ResBlock(ch, ch, emb, groups, drop)
        for level in reversed(range(levels)):
            out = base * cfg["channel_mults"][level]
            for b in range(cfg["res_blocks"] + 1):
                name = f"up{level}_{b}"
                res = self._add(name, ResBlock(ch + skip_channels.pop(), out, emb, groups, drop))
                attn = self._add(name + "_attn", AttentionBlock(out, heads, groups)) if level in attn_levels else None
                self.up.append(("res", res, attn))
                ch = out
            if level > 0:
                self.up.append(("resample", self._add(f"up{level}_resample", nn.Conv2d(ch, ch, 3, 1, 1)), None))
        self.norm_out = nn.GroupNorm(groups, ch, eps=1e-5)
        self.conv_out = nn.Conv2d(ch, cfg["in_channels"], 3, 1, 1)

    def _add(self, name, module):
        self.add_module(name, module)
        return module

    def forward(self, x, t, labels=None):
        n = x.shape[0]
        emb = self.time_mlp2(F.silu(self.time_mlp1(self.time_embed(t.reshape(n)))))
        if self.label_embed is not None:
            if labels is None:
                labels = torch.full((n,), self.num_classes, dtype=torch.long)
            emb = emb + self.label_embed(labels.to(torch.long))
        h = self.conv_in(x)
        skips = [h]
        for kind, m, attn in self.down:
            if kind == "resample":
                h = m(h)
            else:
                h = m(h, emb)
                if attn is not None:
                    h = attn(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for kind, m, attn in self.up:
            if kind == "resample":
                h = m(F.interpolate(h, scale_factor=2, mode="nearest"))
            else:
                h = m(torch.cat([h, skips.pop()], 1), emb)
                if attn is not None:
                    h = attn(h)
        return self.conv_out(F.silu(self.norm_out(h)))


# ---- loading ----

def build(model_config):
    """The twin of rflow's network for a "model_config" dict (velocity_mlp or unet)."""
    kind = model_config.get("model", "")
    if kind == "velocity_mlp":
        return VelocityMLP(model_config)
    if kind == "unet":
        return UNet(model_config)
    raise ValueError(f"torch_twin mirrors velocity_mlp and unet, not '{kind}'")


def load_rflow(path, use_ema=True, dtype=torch.float32):
    """Loads an rflow checkpoint into its twin (eval mode, CPU). Returns (model, info) with info =
    {"kind", "sample_shape", "config" (the checkpoint's whole config), "step", "ema" (bool: EMA
    weights loaded)}. Like rflow::load_model, the EMA weights are used when every parameter has
    its shadow "optim.ema.shadow.<i>" and use_ema; otherwise the raw "model.*" weights."""
    tensors, metadata = read_safetensors(path)
    if "config" not in metadata:
        raise ValueError(f"{path}: no metadata 'config' (not an rflow checkpoint?)")
    config = json.loads(metadata["config"])
    if "model_config" not in config:
        raise ValueError(f"{path}: config lacks 'model_config' (not written by rflow train?)")
    if "lora" in config:
        raise ValueError(f"{path}: a LoRA fine-tune; merge its adapter first (rflow lora merge)")
    mc = config["model_config"]
    model = build(mc)
    state = {k[len("model."):]: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()
             if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the twin: {e}") from None
    params = [p for _, p in model.named_parameters()]
    shadows = []
    for i in range(len(params)):
        s = tensors.get(f"optim.ema.shadow.{i}")
        if s is None:
            break
        shadows.append(s)
    ema = use_ema and len(shadows) == len(params)
    if ema:
        with torch.no_grad():
            for i, (p, s) in enumerate(zip(params, shadows)):
                if tuple(p.shape) != s.shape:
                    raise ValueError(f"{path}: EMA shadow {i} does not match its parameter's shape")
                p.copy_(torch.from_numpy(s.astype(np.float32)))
    model.to(dtype).eval()
    if mc["model"] == "unet":
        shape = [mc["in_channels"], mc["image_size"], mc["image_size"]]
    else:
        shape = [mc["data_dim"]]
    info = {"kind": mc["model"], "sample_shape": shape, "config": config,
            "step": int(metadata.get("step", 0)), "ema": ema}
    return model, info


def evaluate(model, inputs, dtype=torch.float32):
    """v = model(x, t[, labels]) for a dict of numpy arrays as read from an inputs file."""
    if "x" not in inputs or "t" not in inputs:
        raise ValueError('the inputs need tensors "x" and "t"')
    x = torch.from_numpy(inputs["x"].astype(np.float32)).to(dtype)
    t = torch.from_numpy(inputs["t"].astype(np.float32)).to(dtype)
    labels = torch.from_numpy(inputs["labels"].astype(np.int64)) if "labels" in inputs else None
    with torch.no_grad():
        return model(x, t, labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Evaluate an rflow checkpoint's velocity in PyTorch "
                                 "(same inputs and output as velocity_eval).")
    ap.add_argument("checkpoint")
    ap.add_argument("inputs", help='safetensors with "x" [N, ...], "t" [N] and optionally "labels" [N]')
    ap.add_argument("output", help='safetensors to write "v" to')
    ap.add_argument("--raw", action="store_true", help="use the raw weights, not the EMA ones")
    ap.add_argument("--double", action="store_true", help="compute in float64 (a reference for float32)")
    ap.add_argument("--save-state-dict", metavar="FILE", help="also torch.save the twin's state dict")
    a = ap.parse_args(argv)
    dtype = torch.float64 if a.double else torch.float32
    def fail(path, e):  # bad input: a message naming the file, exit 2 (as velocity_eval)
        print(f"torch_twin: {e}" if path in str(e) else f"torch_twin: {path}: {e}", file=sys.stderr)
        return 2

    try:
        model, _ = load_rflow(a.checkpoint, use_ema=not a.raw, dtype=dtype)
    except (OSError, ValueError, KeyError) as e:
        return fail(a.checkpoint, e)
    try:
        v = evaluate(model, read_safetensors(a.inputs)[0], dtype)
    except (OSError, ValueError, KeyError, RuntimeError, IndexError) as e:
        return fail(a.inputs, e)
    write_safetensors(a.output, {"v": v.float()})
    if a.save_state_dict:
        torch.save(model.state_dict(), a.save_state_dict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
