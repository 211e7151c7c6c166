"""The M3ViT forward in JAX, batched, on parameters in the reference training code's state-dict layout.

It computes what `m3vit/reference.py` computes (docs m3vit-model.md): pre-LN ViT blocks, MoE in `cfg.moe_blocks`
with one gate per task (`p = softmax(x @ w_gate)`, top-k experts by p, output `sum_j p_j Expert_j(x)`, no
renormalisation), exact GELU, SETR heads (PUP or light) with bilinear align_corners=False upsampling. The MoE is
written densely (every expert runs on every token, then a top-k mask times p weights the outputs): the same
values as the sparse reference, with gradients flowing to the gates through p (the selection itself is not
differentiable). Heads have no BatchNorm here: `to_state_dict` writes identity BatchNorm entries
(gamma 1, beta 0, mean 0, var 1 - BN_EPS, so the exporter's fold is exact).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from m3vit import init
from m3vit.checkpoint import BN_EPS
from m3vit.config import Config
from m3vit.reference import _axis_weights


def init_params(cfg: Config) -> dict[str, np.ndarray]:
    """Trainable tensors: the seeded state dict (m3vit/init.py) without the BatchNorm entries, float32."""
    sd = init.seeded_state_dict(cfg)
    return {k: np.asarray(v, np.float32) for k, v in sd.items() if ".syncbn_fc_" not in k}


def to_state_dict(params: dict, cfg: Config) -> dict[str, np.ndarray]:
    """The reference-layout state dict of trained params (float32), with identity BatchNorm in every head."""
    sd = {k: np.asarray(v, np.float32) for k, v in params.items()}
    convs = 4 if cfg.head == "pup" else 1
    for task in cfg.tasks:
        for j in range(convs):
            bn = f"decoders.{task.name}.syncbn_fc_{j}."
            n = cfg.head_width
            sd[bn + "weight"], sd[bn + "bias"] = np.ones(n, np.float32), np.zeros(n, np.float32)
            sd[bn + "running_mean"] = np.zeros(n, np.float32)
            sd[bn + "running_var"] = np.full(n, 1.0 - BN_EPS, np.float32)
            sd[bn + "num_batches_tracked"] = np.array(0, np.int64)
    return sd


def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * g + b


def _gelu(x):
    return jax.nn.gelu(x, approximate=False)


def embed(P, cfg: Config, images):
    """images [B,3,H,W] -> tokens [B,T,D]."""
    x = images
    if cfg.mean is not None:
        x = (x - jnp.array(cfg.mean)[:, None, None]) / jnp.array(cfg.std)[:, None, None]
    b, p = x.shape[0], cfg.patch
    patches = x.reshape(b, 3, cfg.grid_h, p, cfg.grid_w, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, cfg.patches, -1)
    tok = patches @ P["backbone.patch_embed.proj.weight"].reshape(cfg.dim, -1).T + P["backbone.patch_embed.proj.bias"]
    cls = jnp.broadcast_to(P["backbone.cls_token"], (b, 1, cfg.dim))
    return jnp.concatenate([cls, tok], axis=1) + P["backbone.pos_embed"]


def _attention(P, cfg: Config, k: str, a):
    b, t, h, hd = a.shape[0], a.shape[1], cfg.heads, cfg.head_dim
    qkv = (a @ P[k + "attn.qkv.weight"].T + P[k + "attn.qkv.bias"]).reshape(b, t, 3, h, hd).transpose(2, 0, 3, 1, 4)
    q, kk, v = qkv[0], qkv[1], qkv[2]
    att = jax.nn.softmax(q @ kk.transpose(0, 1, 3, 2) * hd ** -0.5, axis=-1)
    y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, cfg.dim)
    return y @ P[k + "attn.proj.weight"].T + P[k + "attn.proj.bias"]


def moe(P, cfg: Config, block: int, task_index: int, m):
    """m [B,T,D] -> (y [B,T,D], p [B,T,E]): dense-equivalent top-k MoE with the gate of task `task_index`."""
    k = f"backbone.blocks.{block}.mlp."
    p = jax.nn.softmax(m @ P[f"{k}gate.{task_index}.w_gate"], axis=-1)
    _, idx = jax.lax.top_k(jax.lax.stop_gradient(p), cfg.top_k)
    mask = jax.nn.one_hot(idx, cfg.experts, dtype=p.dtype).sum(-2)           # [B,T,E] 0/1
    w1, b1 = P[k + "experts.htoh4.weight"], P[k + "experts.htoh4.bias"]        # [E,Dh,D], [E,Dh]
    w2, b2 = P[k + "experts.h4toh.weight"], P[k + "experts.h4toh.bias"]        # [E,D,Dh], [E,D]
    hid = _gelu(jnp.einsum("btd,ehd->bteh", m, w1) + b1)
    out = jnp.einsum("bteh,edh->bted", hid, w2) + b2
    return jnp.einsum("bte,bted->btd", p * mask, out), p


def backbone(P, cfg: Config, images, task_index: int):
    """Tokens after the last block [B,T,D] and the gate probabilities of every MoE layer [L,B,T,E]."""
    x = embed(P, cfg, images)
    probs = []
    for i in range(cfg.depth):
        k = f"backbone.blocks.{i}."
        x = x + _attention(P, cfg, k, _ln(x, P[k + "norm1.weight"], P[k + "norm1.bias"], cfg.ln_eps))
        m = _ln(x, P[k + "norm2.weight"], P[k + "norm2.bias"], cfg.ln_eps)
        if cfg.is_moe(i):
            y, p = moe(P, cfg, i, task_index, m)
            probs.append(p)
        else:
            y = _gelu(m @ P[k + "mlp.fc1.weight"].T + P[k + "mlp.fc1.bias"]) @ P[k + "mlp.fc2.weight"].T \
                + P[k + "mlp.fc2.bias"]
        x = x + y
    return x, (jnp.stack(probs) if probs else jnp.zeros((0,) + x.shape[:2] + (cfg.experts,)))


def _conv(x, w, b, pad):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + b[None, :, None, None]


def upsample(x, scale: int):
    """Bilinear upsampling of [B,C,H,W] by an integer factor, align_corners=False (the reference's weights)."""
    h, w = x.shape[2], x.shape[3]
    y0, y1, ly = _axis_weights(h, h * scale, scale)
    x0, x1, lx = _axis_weights(w, w * scale, scale)
    ly, lx = jnp.asarray(ly, x.dtype), jnp.asarray(lx, x.dtype)
    rows = x[:, :, y0, :] * (1 - ly)[:, None] + x[:, :, y1, :] * ly[:, None]
    return rows[:, :, :, x0] * (1 - lx) + rows[:, :, :, x1] * lx


def head(P, cfg: Config, task: str, x):
    """Task head on tokens [B,T,D] -> [B,C,H,W]."""
    o = f"decoders.{task}."
    f = _ln(x[:, 1:], P[o + "norm.weight"], P[o + "norm.bias"], cfg.ln_eps)
    f = f.transpose(0, 2, 1).reshape(x.shape[0], cfg.dim, cfg.grid_h, cfg.grid_w)
    if cfg.head == "pup":
        for j in range(4):
            f = jax.nn.relu(_conv(f, P[f"{o}conv_{j}.weight"], P[f"{o}conv_{j}.bias"], 1))
            if j < 3:
                f = upsample(f, 2)
        return upsample(_conv(f, P[o + "conv_4.weight"], P[o + "conv_4.bias"], 0), 2)
    f = jax.nn.relu(_conv(f, P[o + "conv_0.weight"], P[o + "conv_0.bias"], 1))
    return upsample(_conv(f, P[o + "conv_1.weight"], P[o + "conv_1.bias"], 0), cfg.patch)


def forward(P, cfg: Config, images, task_index: int):
    """Head output [B,C,H,W] of task `task_index` and its gate probabilities [L,B,T,E]."""
    x, probs = backbone(P, cfg, images, task_index)
    return head(P, cfg, cfg.tasks[task_index].name, x), probs
