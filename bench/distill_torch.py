#!/usr/bin/env python3
"""The training step of distill-step written in PyTorch (CPU), for bench/distill.sh.

Same model shape (BERT, post-LN, exact GELU, LayerNorm eps 1e-12), same
batches (consecutive pairs while their student tokens fit in --batch-tokens),
same loss (entropic OT between the student's token vectors and the teacher's,
cosine cost, [CLS]/[SEP] masked out, log-domain Sinkhorn in float64 with
eps/tol/max-iter as distill-step, the plan held fixed), same AdamW (weight
decay 0.01 on weights, clipping at 1.0), optionally PGD adversarial training
in embedding space. Written the way one would in PyTorch: padded batches with
an attention mask, batched Sinkhorn with masks.

Input: JSON lines from `rec dump pairs.rec` (src_ids, tgt_vecs).
Prints one line: steps, seconds (of the step loop only), steps/s.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


class Layer(torch.nn.Module):
    def __init__(self, d, h, inter):
        super().__init__()
        self.h = h
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.ao = torch.nn.Linear(d, d)
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-12)
        self.fc = torch.nn.Linear(d, inter)
        self.proj = torch.nn.Linear(inter, d)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, mask_add):
        B, L, d = x.shape
        hs = d // self.h
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.view(B, L, self.h, hs).transpose(1, 2)
        k = k.view(B, L, self.h, hs).transpose(1, 2)
        v = v.view(B, L, self.h, hs).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs) + mask_add
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, L, d)
        a = self.ln1(x + self.ao(y))
        return self.ln2(a + self.proj(F.gelu(self.fc(a))))


class Bert(torch.nn.Module):
    def __init__(self, vocab, d, layers, h, inter, maxpos):
        super().__init__()
        self.word = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Embedding(maxpos, d)
        self.typ = torch.nn.Embedding(2, d)
        self.ln = torch.nn.LayerNorm(d, eps=1e-12)
        self.layers = torch.nn.ModuleList([Layer(d, h, inter) for _ in range(layers)])
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0, 0.02)

    def forward(self, ids, valid, delta=None):
        B, L = ids.shape
        e = self.word(ids)
        if delta is not None:
            e = e + delta
        pos = torch.arange(L)
        x = self.ln(e + self.pos(pos)[None] + self.typ.weight[0])
        mask_add = ((~valid).float() * -1e9)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask_add)
        return x


def sinkhorn_plan(C, ma, mb, eps, tol, max_iter):
    """Batched log-domain Sinkhorn, uniform marginals over unmasked tokens."""
    with torch.no_grad():
        C = C.double()
        na = ma.sum(1, keepdim=True).double()
        nb = mb.sum(1, keepdim=True).double()
        la = torch.where(ma, -torch.log(na), torch.full_like(na, -1e9).expand_as(ma.double()))
        lb = torch.where(mb, -torch.log(nb), torch.full_like(nb, -1e9).expand_as(mb.double()))
        logK = -C / eps
        logK = logK.masked_fill(~(ma[:, :, None] & mb[:, None, :]), -1e9)
        u = torch.zeros_like(la)
        v = torch.zeros_like(lb)
        for it in range(max_iter):
            v = lb - torch.logsumexp(logK + u[:, :, None], dim=1)
            u = la - torch.logsumexp(logK + v[:, None, :], dim=2)
            # distill-step's stop rule (L1 error of both marginals < tol), tested every
            # 10th iteration as POT does (each test is a full pass and a sync)
            if tol > 0 and it % 10 == 0:
                P = torch.exp(logK + u[:, :, None] + v[:, None, :])
                err = (P.sum(2) - torch.exp(la) * ma).abs().sum(1) + (P.sum(1) - torch.exp(lb) * mb).abs().sum(1)
                if err.max().item() < tol:
                    break
        return torch.exp(logK + u[:, :, None] + v[:, None, :])


def ot_loss(S, T, ma, mb, args):
    Sn = F.normalize(S, dim=-1)
    Tn = F.normalize(T, dim=-1)
    C = 1 - Sn @ Tn.transpose(1, 2)
    P = sinkhorn_plan(C.detach(), ma, mb, args.ot_eps, args.ot_tol, args.ot_iters)
    return ((P.float() * C).sum((1, 2))).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--inter", type=int, default=512)
    ap.add_argument("--maxpos", type=int, default=128)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ot-eps", type=float, default=0.05)
    ap.add_argument("--ot-tol", type=float, default=1e-6)
    ap.add_argument("--ot-iters", type=int, default=1000)
    ap.add_argument("--adv", default="none")
    ap.add_argument("--adv-eps", type=float, default=1.0)
    ap.add_argument("--adv-steps", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=16, help="sequences per padded micro-batch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    pairs = []
    for line in open(args.pairs):
        r = json.loads(line)
        if len(r["src_ids"]) >= 3 and len(r["tgt_vecs"]) >= 3:
            pairs.append((r["src_ids"], r["tgt_vecs"]))
    batches, cur, ntok = [], [], 0
    for p in pairs:  # distill-step's batching: consecutive pairs within batch-tokens
        if cur and ntok + len(p[0]) > args.batch_tokens:
            batches.append(cur)
            cur, ntok = [], 0
        cur.append(p)
        ntok += len(p[0])
    if cur:
        batches.append(cur)

    def tensors(batch):
        B, L, M = len(batch), max(len(s) for s, _ in batch), max(len(t) for _, t in batch)
        ids = torch.zeros(B, L, dtype=torch.long)
        valid = torch.zeros(B, L, dtype=torch.bool)
        T = torch.zeros(B, M, args.hidden)
        mb = torch.zeros(B, M, dtype=torch.bool)
        for i, (s, t) in enumerate(batch):
            ids[i, : len(s)] = torch.tensor(s)
            valid[i, : len(s)] = True
            T[i, : len(t)] = torch.tensor(t)
            mb[i, 1 : len(t) - 1] = True
        ma = valid.clone()
        for i, (s, _) in enumerate(batch):  # [CLS] and [SEP] out of the marginals
            ma[i, 0] = False
            ma[i, len(s) - 1] = False
        return ids, valid, T, ma, mb

    # Padding is PyTorch's cost of many short sequences: within each batch, sort
    # by length and run micro-batches of --chunk sequences, accumulating the
    # gradient (the same mathematics as one batch, far less padding).
    def chunks(batch):
        order = sorted(range(len(batch)), key=lambda i: (len(batch[i][0]), len(batch[i][1])))
        sb = [batch[i] for i in order]
        return [(tensors(sb[k : k + args.chunk]), len(sb[k : k + args.chunk]) / len(batch))
                for k in range(0, len(sb), args.chunk)]

    data = [chunks(b) for b in batches]
    model = Bert(args.vocab, args.hidden, args.layers, args.heads, args.inter, args.maxpos)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    steps = 0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        for batch in data:
            opt.zero_grad(set_to_none=True)
            for (ids, valid, T, ma, mb), weight in batch:
                if args.adv == "pgd":
                    # random start in the per-token ball, K projected ascent steps on delta only
                    B, L = ids.shape
                    z = torch.randn(B, L, args.hidden)
                    r = args.adv_eps * torch.rand(B, L, 1) ** (1.0 / args.hidden)
                    delta = (z / z.norm(dim=-1, keepdim=True) * r).requires_grad_(True)
                    alpha = args.adv_eps / 4
                    for _ in range(args.adv_steps):
                        loss_a = ot_loss(model(ids, valid, delta), T, ma, mb, args)
                        (g,) = torch.autograd.grad(loss_a, delta)
                        with torch.no_grad():
                            delta += alpha * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-30)
                            n = delta.norm(dim=-1, keepdim=True)
                            delta *= torch.clamp(args.adv_eps / n.clamp_min(1e-30), max=1.0)
                    loss = ot_loss(model(ids, valid), T, ma, mb, args) + ot_loss(model(ids, valid, delta.detach()), T,
                                                                                 ma, mb, args)
                else:
                    loss = ot_loss(model(ids, valid), T, ma, mb, args)
                (loss * weight).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps += 1
    dt = time.perf_counter() - t0
    print(f"{steps} {dt:.4f} {steps / dt:.4f}")


if __name__ == "__main__":
    main()
