"""Shared test machinery: cached exports in a temporary directory and checks every exported model must pass."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from m3vit import checkpoint, config, golden, init, reference
from m3vit.pipeline import export

MODELS = Path(__file__).resolve().parent.parent
CONFIGS = MODELS / "configs"
SLOW = os.environ.get("M3RT_SLOW") == "1"
_TMP = Path(tempfile.mkdtemp(prefix="m3rt-export-test-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def tmpdir(name: str) -> Path:
    path = _TMP / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def exported(name: str) -> dict:
    """Exports configs/<name>.toml from the seed once per test run."""
    return export(CONFIGS / f"{name}.toml", _TMP / name, ["seed"], log=lambda s: None)


@functools.lru_cache(maxsize=None)
def seeded_params(name: str) -> dict:
    cfg = config.load(CONFIGS / f"{name}.toml")
    return checkpoint.to_params(init.seeded_state_dict(cfg), cfg)


def load_golden(out: Path, cfg: config.Config):
    """[(image, {task: output}, {task: route})] from an export directory."""
    g = Path(out) / "golden"
    return [(np.load(g / f"input_{i}.npy"), {t: np.load(g / f"{t}_{i}.npy") for t in cfg.task_names},
             {t: np.load(g / f"route_{t}_{i}.npy") for t in cfg.task_names}) for i in range(cfg.golden_inputs)]


def ort_routing(model_path: Path, cfg: config.Config, image: np.ndarray):
    """Runs a copy of model.onnx extended with every TopK node's input (gate softmax) and indices as outputs.
    TopK nodes are found by op type; in node order they are task by task, MoE layer by MoE layer."""
    model = onnx.load(str(model_path))
    topks = [n for n in model.graph.node if n.op_type == "TopK"]
    expected = len(cfg.tasks) * len(cfg.moe_blocks)
    if len(topks) != expected:
        raise AssertionError(f"{len(topks)} TopK nodes, expected {expected}")
    names = []
    for n in topks:
        names += [n.input[0], n.output[1]]
        model.graph.output.append(helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None))
        model.graph.output.append(helper.make_tensor_value_info(n.output[1], onnx.TensorProto.INT64, None))
    values = golden.session(model).run(names, {"image": image})
    layers = len(cfg.moe_blocks)
    probs, idx = {}, {}
    for ti, task in enumerate(cfg.task_names):
        sel = range(ti * layers, (ti + 1) * layers)
        probs[task] = np.array([values[2 * j][0] for j in sel]).reshape(layers, cfg.tokens, cfg.experts)
        idx[task] = np.array([values[2 * j + 1][0] for j in sel]).reshape(layers, cfg.tokens, cfg.top_k)
    return probs, idx


def routing_stats(cfg: config.Config, routes: list[dict]):
    """(experts used per task per layer over all images' tokens, fraction of (token, layer) pairs whose top-k
    set differs, for every pair of tasks)."""
    used = {t: [len(np.unique(np.concatenate([r[t][l] for r in routes]))) for l in range(len(cfg.moe_blocks))]
            for t in cfg.task_names}
    diff = {}
    names = cfg.task_names
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            sa = np.concatenate([np.sort(r[names[a]], -1) for r in routes], axis=1)
            sb = np.concatenate([np.sort(r[names[b]], -1) for r in routes], axis=1)
            diff[(names[a], names[b])] = float((sa != sb).any(-1).mean())
    return used, diff


class ExportChecks:
    """Mixin for unittest.TestCase: every check an exported model must pass."""

    def check_export(self, out: Path, params: dict, min_used: int, heads_in_reference: bool = True):
        out = Path(out)
        cfg = config.load(out / "config.toml")
        model = onnx.load(str(out / "model.onnx"))
        onnx.checker.check_model(model)
        self.assertEqual(model.ir_version, 8)
        self.assertEqual([(o.domain, o.version) for o in model.opset_import], [("", 17)])
        self.assertEqual([i.name for i in model.graph.input], ["image"])
        self.assertEqual([o.name for o in model.graph.output], cfg.task_names)
        goldens = load_golden(out, cfg)
        self.assertEqual(len(goldens), cfg.golden_inputs)
        for i, (image, outputs, routes) in enumerate(goldens):
            self.assertEqual((image.dtype, image.shape), (np.float32, (1, 3, cfg.image_h, cfg.image_w)))
            self.assertTrue(0.0 <= image.min() and image.max() < 1.0)
            ref = reference.forward(params, cfg, image, heads=heads_in_reference)
            probs, idx = ort_routing(out / "model.onnx", cfg, image)
            for task in cfg.tasks:
                o, r = outputs[task.name], routes[task.name]
                self.assertEqual((o.dtype, o.shape), (np.float32, (1, task.channels, cfg.image_h, cfg.image_w)))
                self.assertEqual((r.dtype, r.shape), (np.int32, (len(cfg.moe_blocks), cfg.tokens, cfg.top_k)))
                self.assertGreater(float(o.std()), 1e-3, f"{task.name}_{i} barely varies across pixels")
                np.testing.assert_array_equal(r, ref.routes[task.name])
                np.testing.assert_array_equal(r, idx[task.name], "ORT TopK disagrees with the reference routes")
                self.assertGreaterEqual(float(golden.topk_margin(probs[task.name], cfg.top_k).min()), 1e-4)
                self.assertGreaterEqual(float(ref.margins[task.name].min()), 1e-4)
                if heads_in_reference:
                    want = ref.outputs[task.name]
                    err = np.abs(o - want) / np.maximum(1.0, np.abs(want))
                    self.assertLess(float(err.max()), 1e-4, f"{task.name}_{i}: ORT vs reference")
        used, diff = routing_stats(cfg, [g[2] for g in goldens])
        for task, counts in used.items():
            self.assertTrue(all(c >= min_used for c in counts), f"{task}: experts used per layer {counts}")
        for pair, frac in diff.items():
            self.assertGreaterEqual(frac, 0.25, f"tasks {pair} pick the same experts too often ({frac:.2f})")
        return used, diff
