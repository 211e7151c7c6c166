"""Numpy reference forward, written from docs m3vit-model.md (not from the ONNX graph), in float64.

The MoE layer is sparse: each token's gate softmax picks its top-k experts (ties towards the lower expert
index), and only those experts run on it, weighted by their unrenormalised probabilities.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .config import Config

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def top_k(p: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries per row, largest first, equal values in ascending index order."""
    return np.argsort(-p, axis=-1, kind="stable")[..., :k]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """x [C,H,W], w [O,C,k,k] (stride 1) -> [O,H',W'], as k*k shifted matmuls."""
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.zeros((o, oh * ow))
    for dy in range(k):
        for dx in range(k):
            out += w[:, :, dy, dx] @ xp[:, dy:dy + oh, dx:dx + ow].reshape(c, -1)
    return out.reshape(o, oh, ow) + b[:, None, None]


def _axis_weights(n_in: int, n_out: int, scale: float):
    """PyTorch bilinear, align_corners=False: src = (dst + 0.5)/scale - 0.5, clamped at 0 (and the top edge)."""
    src = np.maximum((np.arange(n_out) + 0.5) / scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    return i0, i1, lam


def upsample(x: np.ndarray, scale: int) -> np.ndarray:
    """Bilinear upsampling of [C,H,W] by an integer factor."""
    _, h, w = x.shape
    y0, y1, ly = _axis_weights(h, h * scale, scale)
    x0, x1, lx = _axis_weights(w, w * scale, scale)
    rows = x[:, y0, :] * (1 - ly)[None, :, None] + x[:, y1, :] * ly[None, :, None]
    return rows[:, :, x0] * (1 - lx)[None, None, :] + rows[:, :, x1] * lx[None, None, :]


@dataclasses.dataclass
class Result:
    outputs: dict[str, np.ndarray]   # task -> [1,C,H,W] raw head output (only when heads were run)
    routes: dict[str, np.ndarray]    # task -> int32 [moe_layers, T, k]
    probs: dict[str, np.ndarray]     # task -> [moe_layers, T, E] gate softmax
    margins: dict[str, np.ndarray]   # task -> [moe_layers, T]: p_(k) - p_(k+1) (inf when k == E)
    tokens: dict[str, np.ndarray]    # task -> [T, D] last block output


def embed(P: dict, cfg: Config, image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, np.float64)[0]
    if cfg.mean is not None:
        img = (img - np.array(cfg.mean)[:, None, None]) / np.array(cfg.std)[:, None, None]
    p = cfg.patch
    patches = img.reshape(3, cfg.grid_h, p, cfg.grid_w, p).transpose(1, 3, 0, 2, 4).reshape(cfg.patches, -1)
    w = P["patch_w"].astype(np.float64).reshape(cfg.dim, -1)
    tok = patches @ w.T + P["patch_b"]
    x = np.concatenate([P["cls"][0].astype(np.float64), tok], axis=0)
    return x + P["pos"][0]


def attention(P: dict, cfg: Config, i: int, a: np.ndarray) -> np.ndarray:
    t, h, hd = a.shape[0], cfg.heads, cfg.head_dim
    qkv = (a @ P[f"b{i}.qkv_w"] + P[f"b{i}.qkv_b"]).reshape(t, 3, h, hd).transpose(1, 2, 0, 3)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = softmax(q @ k.transpose(0, 2, 1) * hd ** -0.5)
    y = (att @ v).transpose(1, 0, 2).reshape(t, cfg.dim)
    return y @ P[f"b{i}.proj_w"] + P[f"b{i}.proj_b"]


def moe(P: dict, cfg: Config, i: int, task: str, m: np.ndarray):
    p = softmax(m @ P[f"b{i}.gate.{task}"])
    idx = top_k(p, cfg.top_k)
    srt = np.sort(p, axis=-1)[:, ::-1]
    margin = srt[:, cfg.top_k - 1] - srt[:, cfg.top_k] if cfg.top_k < cfg.experts else np.full(len(p), np.inf)
    y = np.zeros_like(m)
    for e in range(cfg.experts):
        rows, slot = np.nonzero(idx == e)
        if rows.size == 0:
            continue
        hid = gelu(m[rows] @ P[f"b{i}.ex1_w"][e] + P[f"b{i}.ex1_b"][e])
        y[rows] += p[rows, e][:, None] * (hid @ P[f"b{i}.ex2_w"][e] + P[f"b{i}.ex2_b"][e])
    return y, idx, p, margin


def backbone(P: dict, cfg: Config, image: np.ndarray, task: str):
    """Runs all blocks with the gates of `task`; returns tokens [T,D], routes, probs and margins per MoE layer."""
    x = embed(P, cfg, image)
    eps = cfg.ln_eps
    routes, probs, margins = [], [], []
    for i in range(cfg.depth):
        x = x + attention(P, cfg, i, layer_norm(x, P[f"b{i}.ln1_g"], P[f"b{i}.ln1_b"], eps))
        m = layer_norm(x, P[f"b{i}.ln2_g"], P[f"b{i}.ln2_b"], eps)
        if cfg.is_moe(i):
            y, idx, p, margin = moe(P, cfg, i, task, m)
            routes.append(idx)
            probs.append(p)
            margins.append(margin)
        else:
            y = gelu(m @ P[f"b{i}.fc1_w"] + P[f"b{i}.fc1_b"]) @ P[f"b{i}.fc2_w"] + P[f"b{i}.fc2_b"]
        x = x + y
    t, k, e = cfg.tokens, cfg.top_k, cfg.experts
    return (x, np.array(routes, np.int32).reshape(-1, t, k), np.array(probs).reshape(-1, t, e),
            np.array(margins).reshape(-1, t))


def head(P: dict, cfg: Config, task: str, x: np.ndarray) -> np.ndarray:
    """Task head on block-(depth-1) tokens [T,D]; returns [1,C,H,W]."""
    o = f"head.{task}."
    f = layer_norm(x[1:], P[o + "norm_g"], P[o + "norm_b"], cfg.ln_eps)
    f = f.T.reshape(cfg.dim, cfg.grid_h, cfg.grid_w)
    if cfg.head == "pup":
        for j in range(4):
            f = np.maximum(conv2d(f, P[f"{o}conv{j}_w"], P[f"{o}conv{j}_b"], 1), 0.0)
            if j < 3:
                f = upsample(f, 2)
        f = upsample(conv2d(f, P[f"{o}conv4_w"], P[f"{o}conv4_b"], 0), 2)
    else:
        f = np.maximum(conv2d(f, P[f"{o}conv0_w"], P[f"{o}conv0_b"], 1), 0.0)
        f = upsample(conv2d(f, P[f"{o}conv1_w"], P[f"{o}conv1_b"], 0), cfg.patch)
    return f[None]


def forward(P: dict, cfg: Config, image: np.ndarray, heads: bool = True) -> Result:
    """Every task on one image [1,3,H,W]; heads=False skips the (costly) heads."""
    P64 = {k: v.astype(np.float64) for k, v in P.items()}
    res = Result({}, {}, {}, {}, {})
    for task in cfg.task_names:
        x, routes, probs, margins = backbone(P64, cfg, image, task)
        res.routes[task], res.probs[task], res.margins[task], res.tokens[task] = routes, probs, margins, x
        if heads:
            res.outputs[task] = head(P64, cfg, task, x)
    return res
