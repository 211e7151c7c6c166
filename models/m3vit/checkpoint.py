"""Checkpoint import: reference state dicts (safetensors or .pth, optionally rank-split) to ONNX-layout params.

State-dict keys are the reference training code's (`backbone.*`, `decoders.<task>.*`), PyTorch layouts:
Linear weights `[out, in]`, experts `htoh4.weight [E, Dh, D]`, `h4toh.weight [E, D, Dh]`, gates `w_gate [D, E]`.
Params use the ONNX layouts of docs/onnx-form.md (`x @ W`), with every head BatchNorm folded into its conv.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .config import Config
from .pth import CheckpointError, load_pth

_ST_DTYPES = {"F64": "f8", "F32": "f4", "F16": "f2", "I64": "i8", "I32": "i4", "I16": "i2", "I8": "i1",
              "U8": "u1", "BOOL": "b1"}
EXPERT_KEYS = ("mlp.experts.htoh4.weight", "mlp.experts.htoh4.bias", "mlp.experts.h4toh.weight",
               "mlp.experts.h4toh.bias")
BN_EPS = 1e-5


def load_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads a .safetensors file (all dtypes numpy has, plus BF16 widened to float32)."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise CheckpointError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: bad safetensors header: {e}") from e
    base, out = 8 + n, {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start: base + end]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _ST_DTYPES:
            code = _ST_DTYPES[info["dtype"]]
            arr = np.frombuffer(raw, np.bool_ if code == "b1" else np.dtype("<" + code))
        else:
            raise CheckpointError(f"{path}: tensor {key} has unsupported dtype {info['dtype']}")
        shape = tuple(info["shape"])
        if arr.size != int(np.prod(shape)):
            raise CheckpointError(f"{path}: tensor {key} has {arr.size} elements for shape {shape}")
        out[key] = arr.reshape(shape).copy()
    return out


def save_safetensors(state: dict[str, np.ndarray], path: str) -> None:
    """Writes a state dict as safetensors (the reference keys and layouts)."""
    from safetensors.numpy import save_file
    save_file({k: np.array(v, order="C") for k, v in state.items()}, str(path))


def _tensors_of(obj, path: str) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors (or a dict with a `state_dict` entry)")
    out = {}
    for key, value in obj.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{path}: entry {key!r} is not a tensor ({type(value).__name__})")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def load_file(path: str) -> dict[str, np.ndarray]:
    """One checkpoint file: safetensors or torch .pth/.pt; the `module.` prefix is stripped."""
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if str(path).endswith(".safetensors"):
        return _tensors_of(load_safetensors(path), path)
    return _tensors_of(load_pth(path), path)


def load_state_dict(paths: list[str]) -> dict[str, np.ndarray]:
    """Loads one checkpoint, or a rank-split one (rank 0 first; later ranks hold only expert tensors, which are
    concatenated on dim 0 in rank order)."""
    state = load_file(paths[0])
    for rank, path in enumerate(paths[1:], start=1):
        part = load_file(path)
        for key, value in part.items():
            if key.endswith("num_batches_tracked"):
                continue
            if not key.endswith(EXPERT_KEYS):
                raise CheckpointError(f"{path}: rank {rank} file holds non-expert tensor {key}")
            if key not in state:
                raise CheckpointError(f"{path}: rank {rank} tensor {key} has no rank-0 counterpart")
            if value.shape[1:] != state[key].shape[1:]:
                raise CheckpointError(f"{path}: rank {rank} tensor {key} shape {value.shape} does not match "
                                      f"rank 0's {state[key].shape} beyond dim 0")
            state[key] = np.concatenate([state[key], value], axis=0)
    return state


class _Reader:
    def __init__(self, state: dict[str, np.ndarray]):
        self.state, self.used = state, set()

    def get(self, key: str, shape: tuple) -> np.ndarray:
        if key not in self.state:
            raise CheckpointError(f"checkpoint is missing {key} (expected shape {list(shape)})")
        value = self.state[key]
        if tuple(value.shape) != tuple(shape):
            raise CheckpointError(f"checkpoint tensor {key} has shape {list(value.shape)}, config expects "
                                  f"{list(shape)}")
        self.used.add(key)
        return value.astype(np.float64)

    def gate(self, block: int, index: int, task: str, shape: tuple) -> np.ndarray:
        for t in (str(index), task):
            key = f"backbone.blocks.{block}.mlp.gate.{t}.w_gate"
            if key in self.state:
                return self.get(key, shape)
        return self.get(f"backbone.blocks.{block}.mlp.gate.{index}.w_gate", shape)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _conv_bn(r: _Reader, pre: str, j: int, cout: int, cin: int) -> tuple[np.ndarray, np.ndarray]:
    w, b = r.get(f"{pre}conv_{j}.weight", (cout, cin, 3, 3)), r.get(f"{pre}conv_{j}.bias", (cout,))
    bn = f"{pre}syncbn_fc_{j}."
    gamma, beta = r.get(bn + "weight", (cout,)), r.get(bn + "bias", (cout,))
    mean, var = r.get(bn + "running_mean", (cout,)), r.get(bn + "running_var", (cout,))
    scale = gamma / np.sqrt(var + BN_EPS)
    return _f32(w * scale[:, None, None, None]), _f32((b - mean) * scale + beta)


def to_params(state: dict[str, np.ndarray], cfg: Config, log=None) -> dict[str, np.ndarray]:
    """Checks every tensor against the config and converts to ONNX layouts (float32, BN folded)."""
    r = _Reader(state)
    d, p, e, dh, hm, t = cfg.dim, cfg.patch, cfg.experts, cfg.expert_hidden, cfg.mlp_hidden, cfg.tokens
    P: dict[str, np.ndarray] = {}
    b = "backbone."
    P["patch_w"] = _f32(r.get(b + "patch_embed.proj.weight", (d, 3, p, p)))
    P["patch_b"] = _f32(r.get(b + "patch_embed.proj.bias", (d,)))
    P["cls"] = _f32(r.get(b + "cls_token", (1, 1, d)))
    P["pos"] = _f32(r.get(b + "pos_embed", (1, t, d)))
    for i in range(cfg.depth):
        k, o = f"{b}blocks.{i}.", f"b{i}."
        for n, src in (("ln1", "norm1"), ("ln2", "norm2")):
            P[o + n + "_g"] = _f32(r.get(f"{k}{src}.weight", (d,)))
            P[o + n + "_b"] = _f32(r.get(f"{k}{src}.bias", (d,)))
        P[o + "qkv_w"] = _f32(r.get(k + "attn.qkv.weight", (3 * d, d)).T)
        P[o + "qkv_b"] = _f32(r.get(k + "attn.qkv.bias", (3 * d,)))
        P[o + "proj_w"] = _f32(r.get(k + "attn.proj.weight", (d, d)).T)
        P[o + "proj_b"] = _f32(r.get(k + "attn.proj.bias", (d,)))
        if cfg.is_moe(i):
            x = k + "mlp.experts."
            P[o + "ex1_w"] = _f32(r.get(x + "htoh4.weight", (e, dh, d)).transpose(0, 2, 1))
            P[o + "ex1_b"] = _f32(r.get(x + "htoh4.bias", (e, dh)))
            P[o + "ex2_w"] = _f32(r.get(x + "h4toh.weight", (e, d, dh)).transpose(0, 2, 1))
            P[o + "ex2_b"] = _f32(r.get(x + "h4toh.bias", (e, d)))
            for ti, task in enumerate(cfg.tasks):
                P[f"{o}gate.{task.name}"] = _f32(r.gate(i, ti, task.name, (d, e)))
        else:
            P[o + "fc1_w"] = _f32(r.get(k + "mlp.fc1.weight", (hm, d)).T)
            P[o + "fc1_b"] = _f32(r.get(k + "mlp.fc1.bias", (hm,)))
            P[o + "fc2_w"] = _f32(r.get(k + "mlp.fc2.weight", (d, hm)).T)
            P[o + "fc2_b"] = _f32(r.get(k + "mlp.fc2.bias", (d,)))
    width = cfg.head_width
    for task in cfg.tasks:
        pre, o = f"decoders.{task.name}.", f"head.{task.name}."
        P[o + "norm_g"] = _f32(r.get(pre + "norm.weight", (d,)))
        P[o + "norm_b"] = _f32(r.get(pre + "norm.bias", (d,)))
        convs = 4 if cfg.head == "pup" else 1
        for j in range(convs):
            P[f"{o}conv{j}_w"], P[f"{o}conv{j}_b"] = _conv_bn(r, pre, j, width, d if j == 0 else width)
        P[f"{o}conv{convs}_w"] = _f32(r.get(f"{pre}conv_{convs}.weight", (task.channels, width, 1, 1)))
        P[f"{o}conv{convs}_b"] = _f32(r.get(f"{pre}conv_{convs}.bias", (task.channels,)))
    unused = sorted(k for k in state if k not in r.used and not k.endswith("num_batches_tracked"))
    if unused and log is not None:
        log(f"note: {len(unused)} checkpoint tensor(s) unused, e.g. {', '.join(unused[:4])}")
    return P
