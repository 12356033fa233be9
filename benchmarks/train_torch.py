"""PyTorch CPU peer for benchmarks/train.mjs: the same Llama (HF LlamaForCausalLM arithmetic:
RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU MLP), the same loss
(cross-entropy, ignore_index -100, mean), the same AdamW (decay on projection matrices only) and
gradient clipping, on the same weights and batches, written by train.mjs to a work directory.

Usage: python3 train_torch.py WORKDIR THREADS
WORKDIR/job.json describes the run; weights are WORKDIR/w_<i>.f32 (raw little-endian float32, in
the order of job.json "weights"), batches WORKDIR/batch_<k>.i64 (input ids then targets, int64).
Prints one JSON line: per-step losses and wall time per step.
"""

import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Llama(torch.nn.Module):
    def __init__(self, cfg, tensors):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict(
            {k.replace(".", "__"): torch.nn.Parameter(v) for k, v in tensors.items()}
        )
        d = cfg["head_dim"]
        inv = cfg["rope_theta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        ang = torch.arange(cfg["max_position_embeddings"], dtype=torch.float64)[:, None] * inv
        self.cos = torch.cat([ang.cos(), ang.cos()], -1).float()
        self.sin = torch.cat([ang.sin(), ang.sin()], -1).float()

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def forward(self, ids):
        c = self.cfg
        B, S = ids.shape
        nh, nkv, d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        eps = c["rms_norm_eps"]
        x = F.embedding(ids, self.w("model.embed_tokens.weight"))
        cos, sin = self.cos[:S][None, None], self.sin[:S][None, None]
        mask = torch.full((S, S), float("-inf")).triu(1)
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}"
            h = rms_norm(x, self.w(f"{p}.input_layernorm.weight"), eps)
            q = F.linear(h, self.w(f"{p}.self_attn.q_proj.weight")).view(B, S, nh, d).transpose(1, 2)
            k = F.linear(h, self.w(f"{p}.self_attn.k_proj.weight")).view(B, S, nkv, d).transpose(1, 2)
            v = F.linear(h, self.w(f"{p}.self_attn.v_proj.weight")).view(B, S, nkv, d).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if nh != nkv:
                k = k.repeat_interleave(nh // nkv, dim=1)
                v = v.repeat_interleave(nh // nkv, dim=1)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, S, nh * d)
            x = x + F.linear(o, self.w(f"{p}.self_attn.o_proj.weight"))
            h = rms_norm(x, self.w(f"{p}.post_attention_layernorm.weight"), eps)
            gate = F.linear(h, self.w(f"{p}.mlp.gate_proj.weight"))
            up = F.linear(h, self.w(f"{p}.mlp.up_proj.weight"))
            x = x + F.linear(F.silu(gate) * up, self.w(f"{p}.mlp.down_proj.weight"))
        x = rms_norm(x, self.w("model.norm.weight"), eps)
        head = "model.embed_tokens.weight" if c["tie_word_embeddings"] else "lm_head.weight"
        return F.linear(x, self.w(head))


def main():
    work = sys.argv[1]
    job = json.load(open(os.path.join(work, "job.json")))
    torch.set_num_threads(int(sys.argv[2]))
    cfg = job["config"]
    tensors = {}
    for i, (name, shape) in enumerate(job["weights"]):
        a = np.fromfile(os.path.join(work, f"w_{i}.f32"), dtype="<f4").reshape(shape)
        tensors[name] = torch.from_numpy(a.copy())
    model = Llama(cfg, tensors)
    decay = [p for n, p in model.p.items() if p.dim() >= 2 and n != "model__embed_tokens__weight"]
    no_decay = [p for n, p in model.p.items() if not (p.dim() >= 2 and n != "model__embed_tokens__weight")]
    o = job["adamw"]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=job["lr"],
        betas=(o["beta1"], o["beta2"]),
        eps=o["eps"],
    )
    B, S = job["batch"], job["seq_len"]
    losses, times = [], []
    for k in range(job["steps"]):
        a = np.fromfile(os.path.join(work, f"batch_{k % job['batches']}.i64"), dtype="<i8")
        ids = torch.from_numpy(a[: B * S].reshape(B, S).copy())
        tgt = torch.from_numpy(a[B * S :].reshape(B, S).copy())
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-100)
        loss.backward()
        if o["maxGradNorm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), o["maxGradNorm"])
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    # Context for the reader: this torch build's float32 GEMM speed on a linear layer's shape.
    a, w = torch.randn(B * S, cfg["hidden_size"]), torch.randn(cfg["hidden_size"], cfg["intermediate_size"])
    a @ w
    t0 = time.perf_counter()
    for _ in range(20):
        a @ w
    gflops = 2 * a.shape[0] * a.shape[1] * w.shape[1] * 20 / (time.perf_counter() - t0) / 1e9
    print(json.dumps({"torch": torch.__version__, "losses": losses, "seconds": times, "matmul_gflops": gflops}))


if __name__ == "__main__":
    main()
