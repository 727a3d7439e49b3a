#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: small valid inputs (and a few near-valid ones) under
tests/fuzz/corpus/<target>/. The files are checked in; rerun this after a format change.
Usage: tests/fuzz/make_corpus.py [corpus dir]"""
import gzip, json, os, struct, sys, zlib

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- safetensors --------------------------------------------------------------------------------
FMT = {"F32": "<f", "F16": "<e", "F64": "<d", "I64": "<q", "I32": "<i", "U8": "<B"}


def st(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes) in order."""
    header, off, blob = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def vals(dtype, xs):
    if dtype == "BF16":
        return b"".join(struct.pack("<f", x)[2:] for x in xs)
    if dtype == "BOOL":
        return bytes(1 if x else 0 for x in xs)
    return b"".join(struct.pack(FMT[dtype], int(x) if dtype[0] in "IU" else x) for x in xs)


put("safetensors", "empty", st([]))
put("safetensors", "f32_2x3", st([("w", "F32", [2, 3], vals("F32", [1, -2, 3.5, 0, 1e-3, 7]))], {"format": "pt"}))
put("safetensors", "all_dtypes",
    st([(d.lower(), d, [2], vals(d, [1, 0])) for d in ["F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL"]]))
put("safetensors", "scalar_and_empty", st([("s", "F32", [], vals("F32", [2.5])), ("z", "F16", [0, 4], b"")]))
put("safetensors", "unpadded", (lambda h: struct.pack("<Q", len(h)) + h + vals("F32", [1]))(
    b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'))

# ---- IDX ----------------------------------------------------------------------------------------
images = struct.pack(">IIII", 0x803, 2, 3, 4) + bytes(range(24))
labels = struct.pack(">II", 0x801, 5) + bytes([0, 1, 9, 3, 255])
put("idx", "images_2x3x4", images)
put("idx", "labels_5", labels)
put("idx", "images_gz", gzip.compress(images, mtime=0))
put("idx", "labels_gz", gzip.compress(labels, mtime=0))
put("idx", "images_empty", struct.pack(">IIII", 0x803, 0, 28, 28))

# ---- CSV ----------------------------------------------------------------------------------------
put("csv", "plain", "0.5,1\n-2,3e-2\n+4.25,  7 \n")
put("csv", "header", "x,y,z\n1,2,3\n4,5,6\n")
put("csv", "crlf_bom", "\ufeffx,y\r\n1.5,-2\r\n\r\n3,4\r\n")
put("csv", "one_column", "1\n2\n\n3")
put("csv", "tabs_exp", "\t1.0e+3 ,\t-1E-3\n 2 , 3\n")

# ---- tokenizer ----------------------------------------------------------------------------------
def vocab(pieces):
    out = []
    for p, lp in pieces:
        try:
            out.append({"piece": p.decode("utf-8"), "logp": lp})
        except UnicodeDecodeError:
            out.append({"hex": p.hex(), "logp": lp})
    return json.dumps({"format": "rflow.unigram", "version": 1, "pieces": out})


put("tokenizer", "small", vocab([(b"a", -1.0), (b"b", -1.5), (b"ab", -1.2), (b" ", -2.0), (b"\xff", -3.0)]) + "abab a")
put("tokenizer", "bytes256", vocab([(bytes([i]), -5.545177444479562) for i in range(256)] + [(b"the", -3.0), (b" the", -2.5)]))
put("tokenizer", "utf8", vocab([("é".encode(), -1.0), ("日本".encode(), -2.0), (b"\xe6\x97", -4.0), (b"x", -0.5)]))

# ---- LoRA (MLP 4 -> 8 -> 8 -> 2: Linears net.0 [8, 4], net.2 [8, 8], net.4 [2, 8]) ---------------
SEP = b"\n#SAFETENSORS#\n"


def peft(config, tensors):
    return json.dumps(config).encode() + SEP + st(tensors, {"format": "pt"})


def f32(shape, seed=0):
    n = 1
    for s in shape:
        n *= s
    return vals("F32", [((i * 7 + seed) % 11 - 5) / 10 for i in range(n)])


cfg = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "lora_dropout": 0.0, "use_rslora": False, "use_dora": False,
       "target_modules": ["net.0", "net.4"], "rank_pattern": {}, "alpha_pattern": {}, "bias": "none"}
pre = "base_model.model."
put("lora", "peft_two", peft(cfg, [(pre + "net.0.lora_A.weight", "F32", [2, 4], f32([2, 4])),
                                   (pre + "net.0.lora_B.weight", "F32", [8, 2], f32([8, 2], 1)),
                                   (pre + "net.4.lora_A.weight", "F32", [2, 8], f32([2, 8], 2)),
                                   (pre + "net.4.lora_B.weight", "F32", [2, 2], f32([2, 2], 3))]))
cfg2 = dict(cfg, target_modules="net\\.[02]", use_dora=True, use_rslora=True, rank_pattern={"net.2": 1},
            alpha_pattern={"net.2": 2.0})
put("lora", "peft_regex_dora", peft(cfg2, [(pre + "net.0.lora_A.weight", "F32", [2, 4], f32([2, 4])),
                                           (pre + "net.0.lora_B.weight", "F32", [8, 2], f32([8, 2], 1)),
                                           (pre + "net.0.lora_magnitude_vector", "F32", [8], f32([8], 4)),
                                           (pre + "net.2.lora_A.weight", "F32", [1, 8], f32([1, 8], 2)),
                                           (pre + "net.2.lora_B.weight", "F32", [8, 1], f32([8, 1], 3)),
                                           (pre + "net.2.lora_magnitude_vector", "F32", [8], f32([8], 5))]))
put("lora", "kohya", st([("lora_unet_net_0.lora_down.weight", "F32", [2, 4], f32([2, 4])),
                         ("lora_unet_net_0.lora_up.weight", "F32", [8, 2], f32([8, 2], 1)),
                         ("lora_unet_net_0.alpha", "F32", [], vals("F32", [1.0]))]))
put("lora", "diffusers_f16", st([("unet.net.2.lora.down.weight", "F16", [1, 8], vals("F16", [0.5] * 8)),
                                 ("unet.net.2.lora.up.weight", "BF16", [8, 1], vals("BF16", [0.25] * 8))]))

# ---- PNG text chunks ----------------------------------------------------------------------------
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(*extra):
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(extra) + idat + chunk(b"IEND", b"")


put("png_text", "plain", png())
put("png_text", "text", png(chunk(b"tEXt", b"seed\x007"), chunk(b"tEXt", b"model\x00caf\xe9")))
put("png_text", "ztxt", png(chunk(b"zTXt", b"solver\x00\x00" + zlib.compress(b"rk4, 20 steps"))))
put("png_text", "itxt", png(chunk(b"iTXt", b"prompt\x00\x00\x00en\x00Prompt\x00" + "un caf\u00e9".encode()),
                            chunk(b"iTXt", b"z\x00\x01\x00\x00\x00" + zlib.compress("日本".encode()))))
