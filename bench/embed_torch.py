#!/usr/bin/python3
"""embed_torch.py: the PyTorch peer of the C encoder (bench/embed.sh).

    embed_torch.py MODEL_DIR BATCHES_FILE THREADS infer|infer-bf16|train ROUNDS [--c-lib LIB]

Builds Hugging Face's BertModel computation in plain PyTorch (transformers is
not installed here; the module below is the eager BertModel path: Linear,
LayerNorm, matmul/softmax attention with an additive padding mask, exact
GELU), loads the same model.safetensors, and runs the same batches two ways:
"padded": each batch padded to its longest sequence with an attention mask,
as HF does; "sorted": all sequences sorted by length and re-batched with the
same batch sizes (the least padding possible). train: forward, then backward
of L = sum(out * R * mask).

With --c-lib (bench/embed_bench.c built as a shared library) every round runs
one pass of the C encoder, then one of each PyTorch variant, in this process,
so that both see the same machine load; the report has the best pass of each
and the median over rounds of the per-round speed ratios. Prints key=value
lines. infer-bf16: the C encoder with bfloat16 dense layers (bert_set_dtype),
PyTorch in float32 as in infer (the peer of the goal), plus PyTorch's own
bfloat16 (the model cast with .to(torch.bfloat16), length-sorted batches) for
reference; also the cosine of the C bf16 outputs to the C float32 outputs and
the peak of the C bf16 product.
"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        s, e = t["data_offsets"]
        out[name[5:] if name.startswith("bert.") else name] = torch.frombuffer(
            bytearray(b[8 + n + s:8 + n + e]), dtype=torch.float32).reshape(t["shape"])
    return out


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, i = c["hidden_size"], c["intermediate_size"]
        self.h = c["num_attention_heads"]
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.ao, self.ln1 = nn.Linear(d, d), nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.fc, self.proj = nn.Linear(d, i), nn.Linear(i, d)
        self.ln2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, mask):
        B, T, d = x.shape
        dh = d // self.h
        split = lambda t: t.view(B, T, self.h, dh).permute(0, 2, 1, 3)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + mask
        ctx = torch.matmul(s.softmax(-1), v).permute(0, 2, 1, 3).reshape(B, T, d)
        a = self.ln1(x + self.ao(ctx))
        return self.ln2(a + self.proj(F.gelu(self.fc(a))))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.word = nn.Embedding(c["vocab_size"], d)
        self.pos = nn.Embedding(c["max_position_embeddings"], d)
        self.tok_type = nn.Embedding(c["type_vocab_size"], d)
        self.ln = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def load(self, w):
        e = "embeddings."
        names = {"word.weight": e + "word_embeddings.weight", "pos.weight": e + "position_embeddings.weight",
                 "tok_type.weight": e + "token_type_embeddings.weight", "ln.weight": e + "LayerNorm.weight",
                 "ln.bias": e + "LayerNorm.bias"}
        hf = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
              "ao": "attention.output.dense", "ln1": "attention.output.LayerNorm",
              "fc": "intermediate.dense", "proj": "output.dense", "ln2": "output.LayerNorm"}
        for l in range(len(self.layers)):
            for ours, theirs in hf.items():
                for p in ("weight", "bias"):
                    names["layers.%d.%s.%s" % (l, ours, p)] = "encoder.layer.%d.%s.%s" % (l, theirs, p)
        self.load_state_dict({k: w[v] for k, v in names.items()})

    def forward(self, ids, attn):
        T = ids.shape[1]
        x = self.word(ids) + self.tok_type(torch.zeros_like(ids)) + self.pos(torch.arange(T))[None]
        x = self.ln(x)
        mask = (1.0 - attn[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask)
        return x


def read_batches(path):
    batches, cur = [], []
    for line in open(path):
        if line.strip():
            cur.append([int(t) for t in line.split()])
        elif cur:
            batches.append(cur)
            cur = []
    if cur:
        batches.append(cur)
    return batches


def main():
    model_dir, path, threads, mode, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    clib = sys.argv[sys.argv.index("--c-lib") + 1] if "--c-lib" in sys.argv else None
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    cfg = json.load(open(model_dir + "/config.json"))
    m = Bert(cfg)
    m.load(load_safetensors(model_dir + "/model.safetensors"))
    m.eval()
    batches = read_batches(path)
    seqs = sorted((s for b in batches for s in b), key=len)
    sorted_batches, k = [], 0
    for b in batches:
        sorted_batches.append(seqs[k:k + len(b)])
        k += len(b)

    def tensors(bs):
        out = []
        for b in bs:
            T = max(len(s) for s in b)
            ids = torch.zeros(len(b), T, dtype=torch.long)
            attn = torch.zeros(len(b), T, dtype=torch.long)
            for i, s in enumerate(b):
                ids[i, :len(s)] = torch.tensor(s)
                attn[i, :len(s)] = 1
            R = torch.rand(len(b), T, cfg["hidden_size"]) * 2 - 1
            out.append((ids, attn, R * attn[:, :, None]))
        return out

    def torch_pass(ts):
        t0 = time.perf_counter()
        if mode != "train":
            with torch.inference_mode():
                for ids, attn, _ in ts:
                    (mb if ts is bf16_batches else m)(ids, attn)
        else:
            for ids, attn, R in ts:
                m.zero_grad(set_to_none=False)
                (m(ids, attn) * R).sum().backward()
        return time.perf_counter() - t0

    variants = {"torch-padded": tensors(batches), "torch-sorted": tensors(sorted_batches)}
    bf16_batches = None
    if mode == "infer-bf16":  # padded batches left out: the float32 run has them
        import copy
        del variants["torch-padded"]
        mb = copy.deepcopy(m).to(torch.bfloat16)
        bf16_batches = variants["torch-sorted-bf16"] = tensors(sorted_batches)
    tokens = sum(len(s) for b in batches for s in b)
    d, L, I = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    flops = sum(L * (2.0 * len(s) * (4 * d * d + 2 * d * I) + 4.0 * len(s) ** 2 * d) for b in batches for s in b)
    if mode == "train":
        flops *= 3
    passes = {"c": [], **{name: [] for name in variants}}
    lib = h = None
    if clib:
        import ctypes
        lib = ctypes.CDLL(clib)
        lib.bench_open.restype = ctypes.c_void_p
        lib.bench_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.bench_pass.restype = ctypes.c_double
        lib.bench_pass.argtypes = [ctypes.c_void_p]
        lib.bench_sgemm.restype = ctypes.c_double
        lib.bench_sgemm.argtypes = [ctypes.c_int]
        lib.bench_bf16_peak.restype = ctypes.c_double
        lib.bench_bf16_peak.argtypes = [ctypes.c_int]
        lib.bench_cpu.restype = ctypes.c_char_p
        h = lib.bench_open(model_dir.encode(), path.encode(), threads, 1 if mode == "train" else 0,
                           1 if mode == "infer-bf16" else 0)
        peak = lib.bench_sgemm(threads)
        if mode == "infer-bf16":
            bpeak = lib.bench_bf16_peak(threads)
            cos = (ctypes.c_double * 2)()
            lib.bench_cosine.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
            lib.bench_cosine(model_dir.encode(), path.encode(), threads, cos)
            print("cosine_bf16_vs_f32 min=%.6f mean=%.6f" % (cos[0], cos[1]))
    for _ in range(rounds):
        if h:
            passes["c"].append(lib.bench_pass(h))
        for name, ts in variants.items():
            passes[name].append(torch_pass(ts))
    if h:
        peak = max(peak, lib.bench_sgemm(threads))
        print("peak sgemm_gflops=%.2f" % peak)
        if mode == "infer-bf16":
            bpeak = max(bpeak, lib.bench_bf16_peak(threads))
            print("peak bf16_gflops=%.2f level=%s" % (bpeak, lib.bench_cpu().decode()))
    for name, ts in passes.items():
        if ts:
            best = min(ts)
            print("system=%s mode=%s threads=%d tokens=%d best_s=%.4f tokens_per_s=%.1f gflops=%.2f" %
                  (name, mode, threads, tokens, best, tokens / best, flops / best / 1e9))
    if h:
        for name in variants:
            r = sorted(t / c for c, t in zip(passes["c"], passes[name]))
            med = (r[(len(r) - 1) // 2] + r[len(r) // 2]) / 2
            print("ratio vs=%s median=%.2f min=%.2f max=%.2f rounds=%d" % (name, med, r[0], r[-1], len(r)))


if __name__ == "__main__":
    main()
