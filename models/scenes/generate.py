"""Seeded scenes: objects of six classes standing on a textured ground plane seen by a pinhole camera.

Geometry. The camera sits `CAM_HEIGHT` metres above a flat ground and looks along it; the horizon is the row
`horizon * H`. A ground pixel at row y (below the horizon) is at depth `CAM_HEIGHT * f / (y - horizon_row)`, so
depth increases toward the horizon; the sky (and ground beyond `MAX_DEPTH`) has depth `MAX_DEPTH`. Each object is
a flat, camera-facing cut-out at one depth z, standing on the ground: its base row is the ground row of depth z
and its size in pixels is its size in metres times f / z. Objects are painted far to near (painter's order), so a
nearer object occludes a farther one, and every object pixel carries its class and its depth.

Appearance. Each class has a base colour and a shape; colours are jittered per object, the ground carries a
checker texture in ground coordinates (so it shrinks with perspective), a global light level and a left-right
light gradient scale everything, objects are shaded top to bottom, and Gaussian pixel noise is added last.
Labels: 0 is background (ground and sky); 1..6 are the object classes in `CLASSES`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CLASSES = ("background", "box", "disc", "triangle", "pole", "car", "diamond")
MAX_DEPTH = 20.0          # metres: sky and far ground
CAM_HEIGHT = 1.5          # metres above the ground
MIN_DEPTH = 2.5           # nearest object depth
FAR_DEPTH = 10.0          # farthest object depth
SIZE_SCALE = 2.2          # every object size range below is multiplied by this
# class -> (base RGB in [0,1], width range m, height range m)
_STYLE = {
    1: ((0.85, 0.20, 0.15), (0.8, 1.6), (0.8, 1.6)),    # box: red square-ish
    2: ((0.15, 0.35, 0.90), (0.9, 1.6), None),          # disc: blue, height = width
    3: ((0.95, 0.85, 0.15), (1.0, 1.8), (0.9, 1.6)),    # triangle: yellow
    4: ((0.90, 0.90, 0.90), (0.25, 0.45), (1.6, 2.4)),   # pole: white, tall and thin
    5: ((0.10, 0.75, 0.70), (1.8, 2.8), (0.7, 1.1)),    # car: teal, wide rounded rectangle
    6: ((0.75, 0.20, 0.80), (0.9, 1.5), (1.0, 1.8)),    # diamond: magenta
}
_SPLITS = {"train": 0, "heldout": 1}


@dataclasses.dataclass
class Scene:
    image: np.ndarray      # float32 [3,H,W] in [0,1]
    seg: np.ndarray        # int64 [H,W], 0..6
    depth: np.ndarray      # float32 [H,W], metres in (0, MAX_DEPTH]
    objects: list          # (class, depth, mask [H,W] bool) in painting order (far to near)


def split_seed(split: str, index: int) -> list[int]:
    """The SeedSequence entropy of scene `index` of a split (`train` or `heldout`): disjoint by construction."""
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(_SPLITS)}")
    if index < 0:
        raise ValueError("scene index must be non-negative")
    return [0x5CE7E, _SPLITS[split], index]


def _shape_mask(cls: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-mask of class `cls` in object coordinates u in [-1,1] (left-right), v in [0,1] (bottom-top)."""
    inside = (np.abs(u) <= 1) & (v >= 0) & (v <= 1)
    if cls == 1 or cls == 4:
        return inside
    if cls == 2:
        return u ** 2 + (2 * v - 1) ** 2 <= 1
    if cls == 3:
        return inside & (np.abs(u) <= 1 - v)
    if cls == 5:
        body = inside & (v <= 0.6)
        cabin = (np.abs(u) <= 0.55) & (v > 0.6) & (v <= 1)
        return body | cabin
    if cls == 6:
        return np.abs(u) + np.abs(2 * v - 1) <= 1
    raise ValueError(cls)


def scene(h: int, w: int, seed) -> Scene:
    """One scene of size h x w from `seed` (an int or SeedSequence entropy such as split_seed(...))."""
    rng = np.random.default_rng(seed)
    f = 0.9 * h                                        # focal length, pixels
    horizon = h * rng.uniform(0.3, 0.45)               # horizon row (continuous)
    cx = w / 2.0
    rows = np.arange(h)[:, None] + 0.5                 # pixel centres
    cols = np.arange(w)[None, :] + 0.5
    below = rows - horizon
    ground_z = np.where(below > 0, CAM_HEIGHT * f / np.maximum(below, 1e-6), np.inf)
    depth = np.broadcast_to(np.minimum(ground_z, MAX_DEPTH), (h, w)).astype(np.float64).copy()
    seg = np.zeros((h, w), np.int64)

    # sky: vertical gradient; ground: checker in ground coordinates, with a random colour and phase
    sky_top, sky_low = rng.uniform(0.35, 0.6, 3), rng.uniform(0.6, 0.9, 3)
    t = np.clip(rows / max(horizon, 1.0), 0, 1)[..., None]
    img = np.broadcast_to(sky_top * (1 - t) + sky_low * t, (h, w, 3)).copy()
    g_base = rng.uniform(0.25, 0.5, 3) * np.array([1.0, 0.9, 0.7])
    tile = rng.uniform(0.6, 1.4)
    gz = np.minimum(ground_z, 1e3)
    gx = (cols - cx) * gz / f
    checker = ((np.floor(gx / tile + rng.uniform()) + np.floor(gz / tile + rng.uniform())) % 2)[..., None]
    ground_col = g_base * (0.75 + 0.35 * checker) * (0.6 + 0.4 * np.clip(gz / MAX_DEPTH, 0, 1))[..., None]
    img = np.where((below > 0)[..., None], ground_col, img)

    objects = []
    n = int(rng.integers(2, 5))
    zs = np.sort(rng.uniform(MIN_DEPTH, FAR_DEPTH, n))[::-1]   # far to near
    for z in zs:
        cls = int(rng.integers(1, 7))
        base, wr, hr = _STYLE[cls]
        half_w = SIZE_SCALE * rng.uniform(*wr) / 2
        height = 2 * half_w if hr is None else SIZE_SCALE * rng.uniform(*hr)
        x_world = rng.uniform(-0.8, 0.8) * (w / 2) * z / f           # centre, within the view
        bottom = horizon + CAM_HEIGHT * f / z                          # ground row at depth z
        u = ((cols - cx) * z / f - x_world) / half_w
        v = (bottom - rows) * z / f / height
        mask = _shape_mask(cls, u, v) & np.ones((h, w), bool)
        if not mask.any():
            continue
        colour = np.clip(np.array(base) + rng.normal(0, 0.06, 3), 0, 1)
        shade = (0.75 + 0.25 * np.clip(v, 0, 1))[..., None]          # lit from above
        img = np.where(mask[..., None], colour * shade, img)
        seg[mask] = cls
        depth[mask] = z
        objects.append((cls, float(z), mask))

    light = rng.uniform(0.7, 1.2) * (1 + rng.uniform(-0.25, 0.25) * (cols / w - 0.5))[..., None]
    img = img * light + rng.normal(0, 0.03, img.shape)
    image = np.clip(img, 0, 1).transpose(2, 0, 1).astype(np.float32)
    return Scene(image, seg, depth.astype(np.float32), objects)


def batch(h: int, w: int, split: str, start: int, count: int):
    """Scenes start..start+count-1 of a split, stacked: images [N,3,H,W], seg [N,H,W], depth [N,H,W]."""
    scenes = [scene(h, w, split_seed(split, i)) for i in range(start, start + count)]
    return (np.stack([s.image for s in scenes]), np.stack([s.seg for s in scenes]),
            np.stack([s.depth for s in scenes]))
