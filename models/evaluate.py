#!/usr/bin/env python3
"""Held-out metrics of trained weights through the exporter's ONNX graph, run by onnxruntime.

usage: python models/evaluate.py --config models/configs/micro.toml --weights models/trained/micro.safetensors
                                 [--scenes 500] [--markdown table.md]

For each precision (f32: the weights as stored; f16: every weight rounded to float16 and back) the script builds
the ONNX graph of docs/onnx-form.md in memory (the graph `export.py` writes), runs it on held-out scenes
0..N-1 (models/scenes, split `heldout`, never seen in training) and reports semseg mIoU (and IoU per class),
depth RMSE, delta < 1.25 and AbsRel (models/metrics.py). It also counts, per task and MoE layer, how often
each expert is among a token's top-k (the gate softmax and TopK read back from the graph), which shows how the
two tasks use the shared experts. Runs in the exporter venv (numpy, onnx, onnxruntime, safetensors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import metrics  # noqa: E402
from m3vit import checkpoint, config, golden, onnx_graph  # noqa: E402
from scenes import CLASSES, batch  # noqa: E402


def evaluate_params(params: dict, cfg, images, seg, depth) -> dict:
    """Metrics of one parameter set on stacked scenes, plus per-task expert counts [L,E]."""
    model, _ = onnx_graph.build(params, cfg)
    sess = golden.session(model)
    probe = golden.RoutingProbe(params, cfg)
    conf = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    depth_pred = np.zeros_like(depth)
    counts = {t: np.zeros((len(cfg.moe_blocks), cfg.experts), np.int64) for t in cfg.task_names}
    for i in range(len(images)):
        x = images[i:i + 1]
        out = dict(zip(cfg.task_names, sess.run(cfg.task_names, {"image": x})))
        conf += metrics.confusion(out["semseg"][0].argmax(0), seg[i], len(CLASSES))
        depth_pred[i] = out["depth"][0, 0]
        if probe.sess is not None:
            _, idx = probe.run(x)
            for t in cfg.task_names:
                for layer in range(idx[t].shape[0]):
                    counts[t][layer] += np.bincount(idx[t][layer].ravel(), minlength=cfg.experts)
    res = {"miou": metrics.miou(conf), "iou": metrics.iou_per_class(conf), "counts": counts}
    res.update(metrics.depth_metrics(depth_pred, depth))
    return res


def markdown(cfg, n: int, rows: dict) -> str:
    lines = [f"Held-out scenes 0..{n - 1} ({cfg.image_h}x{cfg.image_w}), onnxruntime on the exported graph:", "",
             "| precision | mIoU | depth RMSE (m) | δ<1.25 | AbsRel |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['miou']:.3f} | {r['rmse']:.3f} | {r['delta1']:.3f} | {r['absrel']:.3f} |")
    first = next(iter(rows.values()))
    lines += ["", "IoU per class (f32): " + ", ".join(f"{c} {v:.3f}" for c, v in zip(CLASSES, first["iou"])), "",
              "Expert use (share of top-k picks per MoE layer, f32):", "",
              "| task | block | " + " | ".join(f"e{e}" for e in range(cfg.experts)) + " |",
              "|---|---|" + "---|" * cfg.experts]
    for t, c in first["counts"].items():
        for layer, block in enumerate(cfg.moe_blocks):
            share = c[layer] / max(c[layer].sum(), 1)
            lines.append(f"| {t} | {block} | " + " | ".join(f"{s:.2f}" for s in share) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Held-out mIoU / depth RMSE / delta1 of trained M3ViT weights.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True, help="safetensors in the reference layout")
    ap.add_argument("--scenes", type=int, default=500)
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args(argv)
    cfg = config.load(args.config)
    params = checkpoint.to_params(checkpoint.load_state_dict([args.weights]), cfg)
    images, seg, depth = batch(cfg.image_h, cfg.image_w, "heldout", 0, args.scenes)
    rows = {}
    for name, p in (("f32", params),
                    ("f16", {k: v.astype(np.float16).astype(np.float32) for k, v in params.items()})):
        rows[name] = evaluate_params(p, cfg, images, seg, depth)
        r = rows[name]
        print(f"{name}: mIoU {r['miou']:.4f}  RMSE {r['rmse']:.4f} m  delta1 {r['delta1']:.4f}  "
              f"AbsRel {r['absrel']:.4f}", flush=True)
    text = markdown(cfg, args.scenes, rows)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
