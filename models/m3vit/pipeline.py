"""The export pipeline: config -> weights -> params -> model.onnx + config.toml + golden/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import onnx

from . import checkpoint, golden, init, onnx_graph
from .config import Config, load


def weights_state(cfg: Config, weights: list[str] | None, log) -> dict[str, np.ndarray]:
    """The reference-layout state dict: seeded when weights is None or ["seed"], else loaded from files."""
    if not weights or weights == ["seed"]:
        log(f"weights: seeded (numpy default_rng({cfg.seed}))")
        return init.seeded_state_dict(cfg)
    log(f"weights: {' + '.join(weights)}" + (f" ({len(weights)} rank files)" if len(weights) > 1 else ""))
    return checkpoint.load_state_dict(weights)


def export(config_path: str | Path, out: str | Path, weights: list[str] | None = None, log=print,
           save_weights: str | None = None, form: str = "m3rt") -> dict:
    """Runs the whole export; returns a summary (paths, sizes, redraws, timings). `form` chooses how the
    graph is written (onnx_graph.build)."""
    start = time.time()
    cfg = load(config_path)
    out = Path(out)
    log(f"[{cfg.name}] {cfg.image_h}x{cfg.image_w} patch {cfg.patch}, D={cfg.dim}, depth {cfg.depth}, "
        f"{cfg.experts} experts top-{cfg.top_k} in blocks {list(cfg.moe_blocks)}, {cfg.head} head, "
        f"tasks {', '.join(cfg.task_names)}")
    state = weights_state(cfg, weights, log)
    if save_weights:
        checkpoint.save_safetensors(state, save_weights)
        log(f"saved the state dict to {save_weights}")
    params = checkpoint.to_params(state, cfg, log)
    log(f"params: {sum(v.size for v in params.values()) / 1e6:.2f} M floats")

    model, _ = onnx_graph.build(params, cfg, form=form)
    if form != "m3rt":
        log(f"ONNX form: {form}")
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.onnx"
    onnx.save_model(model, str(model_path))
    size = model_path.stat().st_size
    log(f"wrote {model_path} ({size / 1e6:.2f} MB, {len(model.graph.node)} nodes, "
        f"{len(model.graph.initializer)} initializers)")
    shutil.copyfile(config_path, out / "config.toml")

    golden_dir = out / "golden"
    if golden_dir.exists():
        shutil.rmtree(golden_dir)
    log(f"drawing {cfg.golden_inputs} golden input(s) (seed {cfg.golden_seed}, top-k margin >= "
        f"{golden.TIE_MARGIN:g})")
    probe = golden.RoutingProbe(params, cfg)
    images, redraws, results = golden.draw_inputs(params, cfg, probe, log)
    golden.write(out, model_path, cfg, images, results, log)
    elapsed = time.time() - start
    log(f"done in {elapsed:.1f} s: {out}")
    return {"config": cfg, "params": params, "model_path": model_path, "model_bytes": size,
            "redraws": redraws, "results": results, "seconds": elapsed}
