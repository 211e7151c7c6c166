#!/usr/bin/env python3
"""Trains an M3ViT (both tasks, semseg and depth) on the procedural scenes, with JAX + optax, on the CPU.

usage: nice -n 19 python models/train.py --config models/configs/micro.toml --out target/trained/micro.safetensors
                                          [--steps 6000] [--batch 32] [--lr 2e-3] [--train-scenes 20000] [--seed 0]

Every step draws one batch of training scenes and runs it twice through the backbone, once with each task's
gates (so each task's batches route through its own gates), then that task's head: cross-entropy for semseg,
L1 (metres) for depth, summed, plus a small load-balancing term per task and MoE layer (the squared coefficient
of variation of the mean gate probability over the experts, weight --balance). AdamW with a warm-up then cosine
decay, gradients clipped at norm 1. Weights start from the exporter's seeded init (m3vit/init.py), except the depth
head's last bias, set to the mean training depth.
The output is a safetensors state dict in the reference training code's layout (`--weights` of export.py) and a
JSON log of the loss curve next to it. Seeded: the same command on the same machine gives the same weights up to
float non-determinism of the XLA CPU backend (reduction order can differ between runs and machines).
Needs jax[cpu], optax, numpy and safetensors (not the exporter venv; see models/trained/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxmodel  # noqa: E402
from m3vit import checkpoint, config  # noqa: E402
from scenes import batch as scene_batch  # noqa: E402


class Progress:
    """A one-line progress bar on stderr: step, rate, time left and the latest losses."""

    def __init__(self, total: int):
        self.total, self.start = total, time.time()

    def update(self, step: int, info: str) -> None:
        frac = step / self.total
        el = time.time() - self.start
        eta = el / max(frac, 1e-9) - el
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        sys.stderr.write(f"\r[{bar}] {step}/{self.total} {el:5.0f}s eta {eta:4.0f}s {info}   ")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def task_losses(P, cfg, images, seg, depth, balance: float):
    """Per-task losses (semseg CE, depth L1) and the load-balancing term, each task through its own gates."""
    out = {}
    aux = 0.0
    for ti, task in enumerate(cfg.tasks):
        pred, probs = jaxmodel.forward(P, cfg, images, ti)
        if task.name == "semseg":
            logp = jax.nn.log_softmax(pred, axis=1)
            out[task.name] = -jnp.take_along_axis(logp, seg[:, None], axis=1).mean()
        elif task.name == "depth":
            out[task.name] = jnp.abs(pred[:, 0] - depth).mean()
        else:
            raise ValueError(f"no training target for task {task.name!r}")
        if probs.shape[0]:
            imp = probs.mean(axis=(1, 2))                                 # [L,E]
            aux = aux + (imp.var(-1) / imp.mean(-1) ** 2).mean()
    return out, balance * aux


def make_step(cfg, opt, balance):
    def loss_fn(P, images, seg, depth):
        losses, aux = task_losses(P, cfg, images, seg, depth, balance)
        return sum(losses.values()) + aux, losses

    @jax.jit
    def step(P, state, images, seg, depth):
        (loss, losses), grads = jax.value_and_grad(loss_fn, has_aux=True)(P, images, seg, depth)
        updates, state = opt.update(grads, state, P)
        return optax.apply_updates(P, updates), state, loss, losses

    return step


def train(args) -> dict:
    cfg = config.load(args.config)
    if [t.name for t in cfg.tasks] != ["semseg", "depth"]:
        raise SystemExit("train.py trains the two tasks semseg and depth, in that order")
    print(f"[{cfg.name}] generating {args.train_scenes} training scenes {cfg.image_h}x{cfg.image_w} ...", flush=True)
    t0 = time.time()
    images, seg, depth = scene_batch(cfg.image_h, cfg.image_w, "train", 0, args.train_scenes)
    print(f"  {time.time() - t0:.1f} s", flush=True)
    init = jaxmodel.init_params(cfg)
    init["decoders.depth.conv_4.bias"] = np.full_like(init["decoders.depth.conv_4.bias"], depth.mean())
    P = {k: jnp.asarray(v) for k, v in init.items()}
    n_params = sum(int(v.size) for v in P.values())
    sched = optax.warmup_cosine_decay_schedule(0.0, args.lr, min(500, args.steps // 10), args.steps, args.lr * 0.02)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=args.weight_decay))
    state = opt.init(P)
    step = make_step(cfg, opt, args.balance)
    rng = np.random.default_rng(args.seed)
    print(f"  {n_params} parameters; {args.steps} steps of batch {args.batch}, lr {args.lr}", flush=True)
    log, bar, t0 = [], Progress(args.steps), time.time()
    ema = None
    for i in range(1, args.steps + 1):
        idx = rng.integers(0, args.train_scenes, args.batch)
        flip = rng.random(args.batch) < 0.5                      # horizontal flips: new, equally valid scenes
        x, s, d = images[idx], seg[idx], depth[idx]
        x = np.where(flip[:, None, None, None], x[..., ::-1], x)
        s = np.where(flip[:, None, None], s[..., ::-1], s)
        d = np.where(flip[:, None, None], d[..., ::-1], d)
        P, state, loss, losses = step(P, state, jnp.asarray(x), jnp.asarray(s), jnp.asarray(d))
        over = args.max_minutes and time.time() - t0 > 60 * args.max_minutes
        if i % 25 == 0 or i == 1 or i == args.steps or over:
            vals = {k: float(v) for k, v in losses.items()}
            ema = vals if ema is None else {k: 0.9 * ema[k] + 0.1 * vals[k] for k in vals}
            log.append({"step": i, "seconds": round(time.time() - t0, 2), "loss": float(loss), **vals})
            bar.update(i, " ".join(f"{k} {v:.3f}" for k, v in ema.items()))
        if over:
            print(f"\nstopped by --max-minutes {args.max_minutes} at step {i} of {args.steps}", flush=True)
            break
    bar.close()
    seconds = time.time() - t0
    print(f"trained in {seconds:.0f} s; first {log[0]}, last {log[-1]}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sd = jaxmodel.to_state_dict({k: np.asarray(v) for k, v in P.items()}, cfg)
    if args.f16:
        sd = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in sd.items()}
    checkpoint.save_safetensors(sd, out)
    meta = {"config": str(args.config), "args": vars(args), "parameters": n_params, "train_seconds": seconds,
            "log": log}
    out.with_suffix(".log.json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {out} and {out.with_suffix('.log.json')}", flush=True)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train M3ViT (semseg + depth) on procedural scenes with JAX.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True, help="output .safetensors (reference layout)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--balance", type=float, default=0.01, help="weight of the load-balancing term")
    ap.add_argument("--train-scenes", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0, help="batch order and flips")
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="stop early (and save) after this many minutes of training; 0 = run every step")
    ap.add_argument("--f16", action="store_true", help="store the weights as float16")
    train(ap.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
