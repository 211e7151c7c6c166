#!/usr/bin/env python3
"""End-to-end check: the JAX training forward on trained weights equals onnxruntime on the exported ONNX.

usage: python models/verify_trained.py --weights W.safetensors --export DIR [--scenes 8] [--tol 1e-4]

DIR is what `export.py --config C --weights W.safetensors --out DIR` wrote. The JAX forward (float32, the
training code's) runs on DIR's golden inputs and on held-out scenes; its outputs are compared with DIR's golden
outputs (onnxruntime on model.onnx) and with onnxruntime on model.onnx for the scenes. A token whose top-k
margin is below 1e-4 could route differently in two float32 programs; the script reports the smallest margin
seen. Needs the training venv with onnxruntime added (jax, optax, onnx, onnxruntime, safetensors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmodel  # noqa: E402
from m3vit import checkpoint, config, golden  # noqa: E402
from scenes import batch  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="JAX forward vs onnxruntime on the exported trained model.")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--export", required=True, help="directory written by export.py")
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    out = Path(args.export)
    cfg = config.load(out / "config.toml")
    sd = checkpoint.load_state_dict([args.weights])
    P = {k: jnp.asarray(v, jnp.float32) for k, v in sd.items() if ".syncbn_fc_" not in k}
    sess = golden.session(out / "model.onnx")
    cases = [(f"golden {i}", np.load(out / "golden" / f"input_{i}.npy"),
              {t: np.load(out / "golden" / f"{t}_{i}.npy") for t in cfg.task_names})
             for i in range(cfg.golden_inputs)]
    images, _, _ = batch(cfg.image_h, cfg.image_w, "heldout", 0, args.scenes)
    for i in range(args.scenes):
        x = images[i:i + 1]
        cases.append((f"heldout {i}", x, dict(zip(cfg.task_names, sess.run(cfg.task_names, {"image": x})))))
    worst, min_margin = 0.0, np.inf
    for name, x, want in cases:
        diffs = []
        for ti, task in enumerate(cfg.task_names):
            got, probs = jaxmodel.forward(P, cfg, jnp.asarray(x), ti)
            diffs.append(float(np.abs(np.asarray(got) - want[task]).max()))
            if probs.shape[0]:
                min_margin = min(min_margin, float(golden.topk_margin(np.asarray(probs), cfg.top_k).min()))
        worst = max(worst, max(diffs))
        print(f"{name}: max |jax - onnxruntime| " + ", ".join(f"{t} {d:.2e}" for t, d in zip(cfg.task_names, diffs)))
    print(f"worst {worst:.2e} (tolerance {args.tol:g}); smallest top-k margin {min_margin:.2e}")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
