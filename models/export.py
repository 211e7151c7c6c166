#!/usr/bin/env python3
"""Exports an M3ViT model to ONNX (docs/onnx-form.md) with golden inputs and outputs.

usage: python models/export.py --config models/configs/micro.toml --out models/micro
                               [--weights seed | model.safetensors | ckpt.pth [rank1.pth ...]]
                               [--save-weights state.safetensors] [--onnx-form m3rt|torch-cat|torch-loop]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from m3vit.config import ConfigError  # noqa: E402
from m3vit.onnx_torch_forms import FORMS  # noqa: E402
from m3vit.pipeline import export  # noqa: E402
from m3vit.pth import CheckpointError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export an M3ViT model to ONNX with golden outputs.")
    ap.add_argument("--config", required=True, help="model config (TOML)")
    ap.add_argument("--out", required=True, help="output directory (model.onnx, config.toml, golden/)")
    ap.add_argument("--weights", nargs="+", default=["seed"],
                    help="`seed` (default), a .safetensors file, or a .pth checkpoint; several files = a "
                         "rank-split checkpoint, rank 0 first")
    ap.add_argument("--save-weights", help="also write the state dict used (reference keys) as safetensors")
    ap.add_argument("--onnx-form", choices=FORMS, default="m3rt",
                    help="how the graph is written: m3rt (docs/onnx-form.md) or as PyTorch's exporter writes a "
                         "dense-equivalent MoE (torch-cat: concatenated experts; torch-loop: one matmul pair per "
                         "expert); the same computation")
    args = ap.parse_args(argv)
    try:
        export(args.config, args.out, args.weights, log=lambda s: print(s, flush=True),
               save_weights=args.save_weights, form=args.onnx_form)
    except (ConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
