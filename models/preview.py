#!/usr/bin/env python3
"""A picture of a model on held-out scenes: per row input | predicted segmentation | ground truth | predicted
depth | ground truth, run by onnxruntime on the exporter's graph of the given weights.

usage: python models/preview.py --config models/configs/micro.toml --weights models/trained/micro.safetensors
                                --out micro-heldout.png [--scenes 8] [--scale 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from m3vit import checkpoint, config, golden, onnx_graph  # noqa: E402
from scenes import batch  # noqa: E402
from scenes.png import depth_rgb, image_rgb, seg_rgb, sheet, write_png  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Held-out predictions next to the ground truth, as a PNG.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--scale", type=int, default=4)
    args = ap.parse_args(argv)
    cfg = config.load(args.config)
    params = checkpoint.to_params(checkpoint.load_state_dict([args.weights]), cfg)
    sess = golden.session(onnx_graph.build(params, cfg)[0])
    images, seg, depth = batch(cfg.image_h, cfg.image_w, "heldout", 0, args.scenes)
    rows = []
    for i in range(args.scenes):
        out = dict(zip(cfg.task_names, sess.run(cfg.task_names, {"image": images[i:i + 1]})))
        rows.append([image_rgb(images[i]), seg_rgb(out["semseg"][0].argmax(0)), seg_rgb(seg[i]),
                     depth_rgb(out["depth"][0, 0]), depth_rgb(depth[i])])
    write_png(sheet(rows, args.scale), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
