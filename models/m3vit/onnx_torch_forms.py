"""The other ONNX forms `m3rt convert` accepts (docs/onnx-form.md, "Graphs written by PyTorch's exporter"),
written the way PyTorch's exporter writes a dense-equivalent MoE module: `--onnx-form torch-cat` or
`torch-loop` of models/export.py.

Both flatten the tokens to [T, D] before the MoE layer and compute the patch-embedding Reshape target and the
head's last Resize sizes at run time from Shape (what the converter folds with tract). Then:

- torch-cat: top-k weights w = p * (p >= k-th largest p); experts concatenated, h = GELU(m W1cat + b1cat),
  y = ((w (x) h) W2cat) + w b2.
- torch-loop: top-k weights by ScatterElements(zeros, TopK indices, TopK values); one matmul pair per expert,
  each output times its column of w (Slice), summed by Adds.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, numpy_helper

FORMS = ("m3rt", "torch-cat", "torch-loop")


def derived(g, key: str, value: np.ndarray) -> str:
    """The initializer `key` holding `value` (a rearrangement of parameters), created once and shared by
    every task's nodes like the parameters themselves."""
    names = g.__dict__.setdefault("derived_names", {})
    if key not in names:
        names[key] = "w.derived." + key
        g.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), names[key]))
    return names[key]


def patch_reshape(g, conv_out: str) -> str:
    """Reshape(conv, Concat(Slice(Shape(conv), 0, 2), [-1])): PyTorch's `flatten(2)`."""
    batch_and_dim = g.op("Slice", [g.op("Shape", [conv_out]), g.i64([0]), g.i64([2]), g.i64([0])])
    return g.op("Reshape", [conv_out, g.op("Concat", [batch_and_dim, g.i64([-1])], axis=0)])


def resize_to(g, x: str, h: int, w: int, out: list[str]) -> str:
    """Bilinear Resize by sizes Concat(Slice(Shape(x), 0, 2), [h, w]): `interpolate(size=(h, w))`."""
    batch_and_channels = g.op("Slice", [g.op("Shape", [x]), g.i64([0]), g.i64([2]), g.i64([0])])
    sizes = g.op("Concat", [batch_and_channels, g.i64([h, w])], axis=0)
    return g.op("Resize", [x, "", "", sizes], out, mode="linear", coordinate_transformation_mode="half_pixel")


def _gate(g, cfg, i: int, task: str, m2: str, probes: list):
    p = g.op("Softmax", [g.op("MatMul", [m2, g.param(f"b{i}.gate.{task}")])], axis=-1)
    vals, idx = g.op("TopK", [p, g.i64([cfg.top_k])], 2, axis=-1, largest=1, sorted=1)
    probes.append((p, idx))
    return p, vals, idx


def moe_ffn(g, cfg, form: str, gelu, i: int, task: str, x: str, m: str, probes: list) -> str:
    """The MoE FFN of block i in `form` ("torch-cat" or "torch-loop"); returns the block output."""
    t, d, e, dh = cfg.tokens, cfg.dim, cfg.experts, cfg.expert_hidden
    m2 = g.op("Reshape", [m, g.i64([-1, d])])
    p, vals, idx = _gate(g, cfg, i, task, m2, probes)
    w1, b1 = g.params[f"b{i}.ex1_w"], g.params[f"b{i}.ex1_b"].reshape(e, dh)
    w2, b2 = g.params[f"b{i}.ex2_w"], g.params[f"b{i}.ex2_b"].reshape(e, d)
    if form == "torch-cat":
        kth = g.op("Slice", [vals, g.i64([cfg.top_k - 1]), g.i64([cfg.top_k]), g.i64([1])])
        mask = g.op("Cast", [g.op("GreaterOrEqual", [p, kth])], to=TensorProto.FLOAT)
        w = g.op("Mul", [p, mask])
        w1cat = derived(g, f"b{i}.ex1_cat", w1.transpose(1, 0, 2).reshape(d, e * dh))
        h = gelu(g, g.op("Add", [g.op("MatMul", [m2, w1cat]), derived(g, f"b{i}.ex1_bcat", b1.reshape(-1))]))
        h = g.op("Reshape", [h, g.i64([t, e, dh])])
        h = g.op("Mul", [h, g.op("Unsqueeze", [w, g.i64([-1])])])
        h = g.op("Reshape", [h, g.i64([t, e * dh])])
        y = g.op("MatMul", [h, derived(g, f"b{i}.ex2_cat", w2.reshape(e * dh, d))])
        y = g.op("Add", [y, g.op("MatMul", [w, derived(g, f"b{i}.ex2_b", b2)])])
    elif form == "torch-loop":
        w = g.op("ScatterElements", [g.f32(np.zeros((t, e))), idx, vals], axis=-1)
        y = None
        for j in range(e):
            ex = f"b{i}.e{j}."
            h = g.op("Add", [g.op("MatMul", [m2, derived(g, ex + "w1", w1[j])]), derived(g, ex + "b1", b1[j])])
            z = g.op("MatMul", [gelu(g, h), derived(g, ex + "w2", w2[j])])
            z = g.op("Add", [z, derived(g, ex + "b2", b2[j])])
            z = g.op("Mul", [z, g.op("Slice", [w, g.i64([j]), g.i64([j + 1]), g.i64([1])])])
            y = z if y is None else g.op("Add", [y, z])
    else:
        raise ValueError(f"unknown ONNX form {form!r} (one of {', '.join(FORMS)})")
    return g.op("Add", [x, g.op("Reshape", [y, g.i64([1, t, d])])])
