"""Golden inputs and outputs: seeded images with no near-tie in any routing decision, run through onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from . import onnx_graph, reference
from .config import Config

TIE_MARGIN = 1e-4


def session(model: onnx.ModelProto | str | Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


class RoutingProbe:
    """The backbone with every MoE layer's gate softmax and TopK indices as outputs, run by onnxruntime."""

    def __init__(self, params: dict[str, np.ndarray], cfg: Config):
        self.cfg, self.sess, self.probes = cfg, None, {t: [] for t in cfg.task_names}
        if cfg.moe_blocks:
            model, self.probes = onnx_graph.build(params, cfg, probe=True)
            self.sess = session(model)

    def run(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Returns (probs, indices) per task: float [L,T,E] and int [L,T,k]."""
        names = [n for layers in self.probes.values() for pair in layers for n in pair]
        values = dict(zip(names, self.sess.run(names, {"image": image}))) if names else {}
        probs, idx = {}, {}
        for task, layers in self.probes.items():
            t, e, k = self.cfg.tokens, self.cfg.experts, self.cfg.top_k
            probs[task] = np.array([values[p][0] for p, _ in layers], np.float32).reshape(-1, t, e)
            idx[task] = np.array([values[i][0] for _, i in layers], np.int64).reshape(-1, t, k)
        return probs, idx


def topk_margin(probs: np.ndarray, k: int) -> np.ndarray:
    """p_(k) - p_(k+1) along the last axis (inf when every expert is chosen)."""
    if k >= probs.shape[-1]:
        return np.full(probs.shape[:-1], np.inf)
    srt = -np.sort(-probs.astype(np.float64), axis=-1)
    return srt[..., k - 1] - srt[..., k]


def draw_inputs(params, cfg: Config, probe: RoutingProbe, log) -> tuple[list[np.ndarray], list[int], list]:
    """Draws cfg.golden_inputs uniform [0,1) images from default_rng(golden_seed), redrawing each until every
    routing margin is >= TIE_MARGIN both in onnxruntime (float32) and in the float64 reference.
    Returns the images, the redraw count per image and the reference results (backbone only)."""
    rng = np.random.default_rng(cfg.golden_seed)
    images, redraws, results = [], [], []
    for i in range(cfg.golden_inputs):
        tries = 0
        while True:
            if tries >= 1000:
                raise RuntimeError(f"golden input {i}: 1000 draws all had a near-tie routing decision; the gate "
                                   "weights are degenerate")
            image = rng.random((1, 3, cfg.image_h, cfg.image_w)).astype(np.float32)
            probs, _ = probe.run(image)
            ort_min = min((float(topk_margin(p, cfg.top_k).min()) for p in probs.values() if p.size),
                          default=np.inf)
            if ort_min >= TIE_MARGIN:
                res = reference.forward(params, cfg, image, heads=False)
                ref_min = min((float(m.min()) for m in res.margins.values() if m.size), default=np.inf)
                if ref_min >= TIE_MARGIN:
                    break
            tries += 1
        log(f"  golden input {i}: {tries} redraw(s); min top-k margin {min(ort_min, ref_min):.2e}")
        images.append(image)
        redraws.append(tries)
        results.append(res)
    return images, redraws, results


def write(out: Path, model_path: Path, cfg: Config, images, results, log) -> None:
    """Writes input_<i>, <task>_<i> (onnxruntime on model.onnx) and route_<task>_<i> (reference) npy files."""
    gdir = out / "golden"
    gdir.mkdir(parents=True, exist_ok=True)
    sess = session(model_path)
    names = cfg.task_names
    for i, (image, res) in enumerate(zip(images, results)):
        np.save(gdir / f"input_{i}.npy", image.astype(np.float32))
        for task, value in zip(names, sess.run(names, {"image": image})):
            np.save(gdir / f"{task}_{i}.npy", np.asarray(value, np.float32))
            np.save(gdir / f"route_{task}_{i}.npy", res.routes[task].astype(np.int32))
        log(f"  golden {i}: wrote input, {', '.join(names)} outputs and routes")
