"""Builds the ONNX graph of docs/onnx-form.md with onnx.helper (opset 17, IR 8).

Everything before the first MoE gate appears once; from that gate on each task has its own chain of nodes
(blocks and head) reading the same initializers for shared weights. Only gates and heads are per task.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import onnx_torch_forms
from .config import Config

OPSET, IR_VERSION = 17, 8


class _Builder:
    def __init__(self, params: dict[str, np.ndarray]):
        self.params, self.nodes, self.inits = params, [], []
        self._param_names: dict[str, str] = {}
        self._const_names: dict[tuple, str] = {}
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def param(self, key: str, shape: tuple | None = None) -> str:
        """The initializer for a named parameter (created once, shared by every reader)."""
        if key not in self._param_names:
            value = self.params[key] if shape is None else self.params[key].reshape(shape)
            name = "w." + key
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
            self._param_names[key] = name
        return self._param_names[key]

    def const(self, value, dtype) -> str:
        arr = np.array(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._const_names:
            name = f"c{len(self._const_names)}"
            self.inits.append(numpy_helper.from_array(arr, name))
            self._const_names[key] = name
        return self._const_names[key]

    def i64(self, value) -> str:
        return self.const(value, np.int64)

    def f32(self, value) -> str:
        return self.const(value, np.float32)

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs):
        names = [self.fresh(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.fresh("n_" + op_type), **attrs))
        return names[0] if len(names) == 1 else names


def _gelu(g: _Builder, u: str) -> str:
    erf = g.op("Erf", [g.op("Div", [u, g.f32(1.4142135)])])
    return g.op("Mul", [g.op("Mul", [u, g.f32(0.5)]), g.op("Add", [erf, g.f32(1.0)])])


def _ln(g: _Builder, x: str, gk: str, bk: str, eps: float) -> str:
    return g.op("LayerNormalization", [x, g.param(gk), g.param(bk)], axis=-1, epsilon=eps)


def _attention(g: _Builder, cfg: Config, i: int, x: str) -> str:
    t, d, hd = cfg.tokens, cfg.dim, cfg.head_dim
    a = _ln(g, x, f"b{i}.ln1_g", f"b{i}.ln1_b", cfg.ln_eps)
    qkv = g.op("Add", [g.op("MatMul", [a, g.param(f"b{i}.qkv_w")]), g.param(f"b{i}.qkv_b")])
    qkv = g.op("Reshape", [qkv, g.i64([1, t, 3, cfg.heads, hd])])
    qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])
    q, k, v = (g.op("Gather", [qkv, g.i64(j)], axis=0) for j in range(3))
    s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    s = g.op("Softmax", [g.op("Mul", [s, g.f32(hd ** -0.5)])], axis=-1)
    y = g.op("Transpose", [g.op("MatMul", [s, v])], perm=[0, 2, 1, 3])
    y = g.op("Reshape", [y, g.i64([1, t, d])])
    y = g.op("Add", [g.op("MatMul", [y, g.param(f"b{i}.proj_w")]), g.param(f"b{i}.proj_b")])
    return g.op("Add", [x, y])


def _dense_ffn(g: _Builder, i: int, x: str, m: str) -> str:
    h = _gelu(g, g.op("Add", [g.op("MatMul", [m, g.param(f"b{i}.fc1_w")]), g.param(f"b{i}.fc1_b")]))
    y = g.op("Add", [g.op("MatMul", [h, g.param(f"b{i}.fc2_w")]), g.param(f"b{i}.fc2_b")])
    return g.op("Add", [x, y])


def _moe_ffn(g: _Builder, cfg: Config, i: int, task: str, x: str, m: str, probes: list) -> str:
    t, d, e, dh = cfg.tokens, cfg.dim, cfg.experts, cfg.expert_hidden
    p = g.op("Softmax", [g.op("MatMul", [m, g.param(f"b{i}.gate.{task}")])], axis=-1)
    vals, idx = g.op("TopK", [p, g.i64([cfg.top_k])], 2, axis=-1, largest=1, sorted=1)
    probes.append((p, idx))
    w = g.op("ScatterElements", [g.f32(np.zeros((1, t, e))), idx, vals], axis=-1)
    wt = g.op("Transpose", [w], perm=[2, 1, 0])
    h = g.op("Add", [g.op("MatMul", [m, g.param(f"b{i}.ex1_w")]), g.param(f"b{i}.ex1_b", (e, 1, dh))])
    y = g.op("Add", [g.op("MatMul", [_gelu(g, h), g.param(f"b{i}.ex2_w")]), g.param(f"b{i}.ex2_b", (e, 1, d))])
    y = g.op("ReduceSum", [g.op("Mul", [y, wt]), g.i64([0])], keepdims=0)
    return g.op("Add", [x, g.op("Reshape", [y, g.i64([1, t, d])])])


def _resize(g: _Builder, x: str, scale: int, out: list[str] | int = 1) -> str:
    scales = g.f32([1.0, 1.0, float(scale), float(scale)])
    return g.op("Resize", [x, g.f32(np.zeros(0)), scales], out, mode="linear",
                coordinate_transformation_mode="half_pixel")


def _conv(g: _Builder, x: str, wk: str, bk: str, k: int) -> str:
    pad = k // 2
    return g.op("Conv", [x, g.param(wk), g.param(bk)], kernel_shape=[k, k], pads=[pad] * 4)


def _head(g: _Builder, cfg: Config, task: str, x: str, form: str) -> None:
    o = f"head.{task}."
    f = g.op("Slice", [x, g.i64([1]), g.i64([cfg.tokens]), g.i64([1])])
    f = _ln(g, f, o + "norm_g", o + "norm_b", cfg.ln_eps)
    f = g.op("Transpose", [f], perm=[0, 2, 1])
    f = g.op("Reshape", [f, g.i64([1, cfg.dim, cfg.grid_h, cfg.grid_w])])
    if cfg.head == "pup":
        for j in range(4):
            f = g.op("Relu", [_conv(g, f, f"{o}conv{j}_w", f"{o}conv{j}_b", 3)])
            if j < 3:
                f = _resize(g, f, 2)
        last, scale = _conv(g, f, f"{o}conv4_w", f"{o}conv4_b", 1), 2
    else:
        f = g.op("Relu", [_conv(g, f, f"{o}conv0_w", f"{o}conv0_b", 3)])
        last, scale = _conv(g, f, f"{o}conv1_w", f"{o}conv1_b", 1), cfg.patch
    if form == "m3rt":
        _resize(g, last, scale, [task])
    else:
        onnx_torch_forms.resize_to(g, last, cfg.image_h, cfg.image_w, [task])


def build(params: dict[str, np.ndarray], cfg: Config, probe: bool = False, form: str = "m3rt"):
    """Returns (ModelProto, probes) where probes[task] lists (softmax, topk-indices) tensor names per MoE layer.

    form: "m3rt" (docs/onnx-form.md) or one of the PyTorch-exporter forms of onnx_torch_forms (the same
    computation written as PyTorch's exporter writes it).

    probe=True builds the same backbone without heads and with the gate softmax and TopK indices of every MoE
    layer as graph outputs (the tensor names listed in probes), for routing checks.
    """
    if form not in onnx_torch_forms.FORMS:
        raise ValueError(f"unknown ONNX form {form!r} (one of {', '.join(onnx_torch_forms.FORMS)})")
    g = _Builder(params)
    x = "image"
    if cfg.mean is not None:
        x = g.op("Sub", [x, g.f32(np.array(cfg.mean).reshape(1, 3, 1, 1))])
        x = g.op("Div", [x, g.f32(np.array(cfg.std).reshape(1, 3, 1, 1))])
    p = cfg.patch
    x = g.op("Conv", [x, g.param("patch_w"), g.param("patch_b")], kernel_shape=[p, p], strides=[p, p])
    flat = g.op("Reshape", [x, g.i64([1, cfg.dim, cfg.patches])]) if form == "m3rt" else \
        onnx_torch_forms.patch_reshape(g, x)
    x = g.op("Transpose", [flat], perm=[0, 2, 1])
    x = g.op("Add", [g.op("Concat", [g.param("cls"), x], axis=1), g.param("pos")])

    first_moe = cfg.moe_blocks[0] if cfg.moe_blocks else cfg.depth
    m = None
    for i in range(first_moe + (1 if cfg.moe_blocks else 0)):
        x = _attention(g, cfg, i, x)
        m = _ln(g, x, f"b{i}.ln2_g", f"b{i}.ln2_b", cfg.ln_eps)
        if i < first_moe:
            x = _dense_ffn(g, i, x, m)
    probes: dict[str, list] = {}
    for task in cfg.task_names:
        probes[task] = []
        y = x
        for i in range(first_moe, cfg.depth):
            if i == first_moe:
                mt = m
            else:
                y = _attention(g, cfg, i, y)
                mt = _ln(g, y, f"b{i}.ln2_g", f"b{i}.ln2_b", cfg.ln_eps)
            if not cfg.is_moe(i):
                y = _dense_ffn(g, i, y, mt)
            elif form == "m3rt":
                y = _moe_ffn(g, cfg, i, task, y, mt, probes[task])
            else:
                y = onnx_torch_forms.moe_ffn(g, cfg, form, _gelu, i, task, y, mt, probes[task])
        if not probe:
            _head(g, cfg, task, y, form)

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, cfg.image_h, cfg.image_w])
    if probe:
        outputs = []
        for task, layers in probes.items():
            for layer, (pn, idx) in enumerate(layers):
                outputs.append(helper.make_tensor_value_info(pn, TensorProto.FLOAT, [1, cfg.tokens, cfg.experts]))
                outputs.append(helper.make_tensor_value_info(idx, TensorProto.INT64, [1, cfg.tokens, cfg.top_k]))
    else:
        outputs = [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, [1, t.channels, cfg.image_h,
                                                                             cfg.image_w]) for t in cfg.tasks]
    graph = helper.make_graph(g.nodes, f"m3vit_{cfg.name}", [image], outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="m3rt-export", producer_version="1")
    model.doc_string = f"M3ViT {cfg.name}: tasks {', '.join(cfg.task_names)}; see docs/onnx-form.md"
    # Each task's post-processing, read by `m3rt convert` (docs/onnx-form.md, "Metadata").
    helper.set_model_props(model, {f"m3rt.post.{t.name}": t.post for t in cfg.tasks})
    onnx.checker.check_model(model)
    return model, probes
