"""Seeded weights, laid out as the reference training code's state dict (PyTorch layouts, BatchNorm unfolded).

A plain random deep ViT collapses its tokens (every token ends up picking the same experts). The scales below
keep token representations diverse through depth: zero-mean patch filters (a flat image patch embeds to the
bias only), a strong positional embedding, modest attention/MLP input weights with the residual-branch output
projections scaled down by depth, and gate weights with a larger std so the routing softmax has spread. Each task's gate
is drawn independently, so tasks route differently.
"""

from __future__ import annotations

import numpy as np

from .config import Config

BN_EPS = 1e-5
PATCH_GAIN = 2.0          # patch-filter std = PATCH_GAIN / sqrt(3 P^2)
POS_STD = 0.5             # positional embedding and cls token
QKV_STD = 0.6             # times 1/sqrt(D): attention logits with some spread
MLP_IN_GAIN = 1.0         # dense fc1 std = MLP_IN_GAIN / sqrt(D): GELU pre-activations O(1)
OUT_GAIN = 1.0            # proj / fc2 / expert-fc2 std = OUT_GAIN / sqrt(fan_in * depth)
EXPERT_IN_GAIN = 1.0      # expert fc1 std = EXPERT_IN_GAIN / sqrt(D)
GATE_GAIN = 2.0           # gate std = GATE_GAIN / sqrt(D): logits std ~2 (fewest near-ties in top-k)


def _normal(rng: np.random.Generator, std: float, shape) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


def _trunc_normal(rng: np.random.Generator, std: float, shape) -> np.ndarray:
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return (x * std).astype(np.float32)


def _affine(rng, n: int, gamma_std: float = 0.05, beta_std: float = 0.02):
    return (1.0 + _normal(rng, gamma_std, n)).astype(np.float32), _normal(rng, beta_std, n)


def _conv_bn(rng, sd: dict, pre: str, j: int, cout: int, cin: int, k: int) -> None:
    sd[f"{pre}conv_{j}.weight"] = _normal(rng, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))
    sd[f"{pre}conv_{j}.bias"] = _normal(rng, 0.05, cout)
    bn = f"{pre}syncbn_fc_{j}."
    sd[bn + "weight"] = (1.0 + _normal(rng, 0.1, cout)).astype(np.float32)
    sd[bn + "bias"] = _normal(rng, 0.1, cout)
    sd[bn + "running_mean"] = _normal(rng, 0.1, cout)
    sd[bn + "running_var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    sd[bn + "num_batches_tracked"] = np.array(1000, dtype=np.int64)


def seeded_state_dict(cfg: Config) -> dict[str, np.ndarray]:
    """Draws every weight from numpy default_rng(cfg.seed) in a fixed order."""
    rng = np.random.default_rng(cfg.seed)
    d, p, e, dh, hm = cfg.dim, cfg.patch, cfg.experts, cfg.expert_hidden, cfg.mlp_hidden
    sd: dict[str, np.ndarray] = {}
    b = "backbone."
    w = _normal(rng, PATCH_GAIN / np.sqrt(3 * p * p), (d, 3, p, p))
    sd[b + "patch_embed.proj.weight"] = (w - w.mean(axis=(1, 2, 3), keepdims=True)).astype(np.float32)
    sd[b + "patch_embed.proj.bias"] = _normal(rng, 0.02, d)
    sd[b + "cls_token"] = _normal(rng, POS_STD, (1, 1, d))
    sd[b + "pos_embed"] = _normal(rng, POS_STD, (1, cfg.tokens, d))
    out_std = lambda fan_in: OUT_GAIN / np.sqrt(fan_in * cfg.depth)  # noqa: E731
    for i in range(cfg.depth):
        k = f"{b}blocks.{i}."
        sd[k + "norm1.weight"], sd[k + "norm1.bias"] = _affine(rng, d)
        sd[k + "attn.qkv.weight"] = _trunc_normal(rng, QKV_STD / np.sqrt(d), (3 * d, d))
        sd[k + "attn.qkv.bias"] = _normal(rng, 0.02, 3 * d)
        sd[k + "attn.proj.weight"] = _trunc_normal(rng, out_std(d), (d, d))
        sd[k + "attn.proj.bias"] = _normal(rng, 0.02, d)
        sd[k + "norm2.weight"], sd[k + "norm2.bias"] = _affine(rng, d)
        if cfg.is_moe(i):
            x = k + "mlp.experts."
            sd[x + "htoh4.weight"] = _trunc_normal(rng, EXPERT_IN_GAIN / np.sqrt(d), (e, dh, d))
            sd[x + "htoh4.bias"] = _normal(rng, 0.05, (e, dh))
            sd[x + "h4toh.weight"] = _trunc_normal(rng, 2.0 * out_std(dh), (e, d, dh))
            sd[x + "h4toh.bias"] = _normal(rng, 0.02, (e, d))
            for t in range(len(cfg.tasks)):
                sd[f"{k}mlp.gate.{t}.w_gate"] = _normal(rng, GATE_GAIN / np.sqrt(d), (d, e))
        else:
            sd[k + "mlp.fc1.weight"] = _trunc_normal(rng, MLP_IN_GAIN / np.sqrt(d), (hm, d))
            sd[k + "mlp.fc1.bias"] = _normal(rng, 0.02, hm)
            sd[k + "mlp.fc2.weight"] = _trunc_normal(rng, out_std(hm), (d, hm))
            sd[k + "mlp.fc2.bias"] = _normal(rng, 0.02, d)
    for task in cfg.tasks:
        pre = f"decoders.{task.name}."
        sd[pre + "norm.weight"], sd[pre + "norm.bias"] = _affine(rng, d)
        width = cfg.head_width
        if cfg.head == "pup":
            _conv_bn(rng, sd, pre, 0, width, d, 3)
            for j in (1, 2, 3):
                _conv_bn(rng, sd, pre, j, width, width, 3)
            last = 4
        else:
            _conv_bn(rng, sd, pre, 0, width, d, 3)
            last = 1
        sd[f"{pre}conv_{last}.weight"] = _normal(rng, 1.0 / np.sqrt(width), (task.channels, width, 1, 1))
        sd[f"{pre}conv_{last}.bias"] = _normal(rng, 0.1, task.channels)
    return sd
