"""Pictures of scenes and predictions without any imaging library: a PNG writer, a class palette, a depth ramp."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .generate import MAX_DEPTH

# background, box, disc, triangle, pole, car, diamond: close to the objects' own colours
PALETTE = np.array([[30, 30, 30], [220, 50, 40], [40, 90, 230], [240, 215, 40], [235, 235, 235], [30, 190, 180],
                    [190, 50, 205]], np.uint8)


def write_png(rgb: np.ndarray, path: str | Path) -> None:
    """Writes uint8 [H,W,3] as an 8-bit RGB PNG."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def image_rgb(image: np.ndarray) -> np.ndarray:
    """float [3,H,W] in [0,1] -> uint8 [H,W,3]."""
    return (np.clip(image, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


def seg_rgb(seg: np.ndarray) -> np.ndarray:
    """labels [H,W] -> palette colours [H,W,3]."""
    return PALETTE[np.clip(seg, 0, len(PALETTE) - 1)]


def depth_rgb(depth: np.ndarray) -> np.ndarray:
    """metres [H,W] -> grey [H,W,3], near bright, MAX_DEPTH black (inverse depth, so near detail shows)."""
    v = np.clip(2.0 / np.maximum(depth, 1e-3), 0, 1) - 2.0 / MAX_DEPTH
    v = np.clip(v / (1 - 2.0 / MAX_DEPTH), 0, 1)
    return np.repeat((v * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)


def sheet(rows: list[list[np.ndarray]], scale: int = 1, gap: int = 2) -> np.ndarray:
    """Tiles rows of equal-size uint8 [H,W,3] panels, each enlarged `scale` times, with white gaps."""
    tiles = [[np.kron(p, np.ones((scale, scale, 1), np.uint8)) for p in row] for row in rows]
    h, w = tiles[0][0].shape[:2]
    n = max(len(r) for r in tiles)
    out = np.full((len(tiles) * (h + gap) - gap, n * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(tiles):
        for j, p in enumerate(row):
            out[i * (h + gap): i * (h + gap) + h, j * (w + gap): j * (w + gap) + w] = p
    return out
