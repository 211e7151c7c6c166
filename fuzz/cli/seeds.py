"""Writes the seed corpora of the CLI readers' fuzz targets (`fuzz/corpus/{onnx,npy,png}`), deterministically:
the smallest M³ViT the exporter writes (models/configs/fuzz-seed.toml) in our ONNX form and in PyTorch's
concatenated-experts form, float32 `.npy` files of a few shapes, and PNGs of every colour type the reader
takes (written here with zlib, no imaging package). Run by `cargo xtask fuzz --seeds` with the venv's python.
"""
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"


def onnx_seeds():
    out = CORPUS / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for form in ["m3rt", "torch-cat"]:
            d = Path(tmp) / form
            subprocess.run([sys.executable, str(ROOT / "models" / "export.py"), "--config",
                            str(ROOT / "models" / "configs" / "fuzz-seed.toml"), "--out", str(d),
                            "--onnx-form", form], check=True, stdout=subprocess.DEVNULL)
            shutil.copy(d / "model.onnx", out / f"{form}.onnx")


def npy_seeds():
    out = CORPUS / "npy"
    out.mkdir(parents=True, exist_ok=True)
    x = (np.arange(1 * 3 * 4 * 8, dtype=np.float32) / 97.0).reshape(1, 3, 4, 8)
    np.save(out / "input.npy", x)
    np.save(out / "vector.npy", np.array([1.5, -2.0], dtype=np.float32))
    np.save(out / "fortran.npy", np.asfortranarray(x[0]))
    np.save(out / "scalar.npy", np.float32(3.25))


def png(w, h, colour_type, bit_depth, rows):
    """A PNG of `rows` (bytes per row, filter byte 0 added here)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_seeds():
    out = CORPUS / "png"
    out.mkdir(parents=True, exist_ok=True)
    w, h = 8, 4
    rgb = [bytes((x * 30 + y * 7 + c * 50) % 256 for x in range(w) for c in range(3)) for y in range(h)]
    (out / "rgb8.png").write_bytes(png(w, h, 2, 8, rgb))
    rgba = [bytes((x * 30 + y * 7 + c * 50) % 256 for x in range(w) for c in range(4)) for y in range(h)]
    (out / "rgba8.png").write_bytes(png(w, h, 6, 8, rgba))
    grey16 = [b"".join(struct.pack(">H", (x * 4000 + y * 900) % 65536) for x in range(w)) for y in range(h)]
    (out / "grey16.png").write_bytes(png(w, h, 0, 16, grey16))
    grey_alpha = [bytes(v for x in range(w) for v in ((x * 31 + y) % 256, 255)) for y in range(h)]
    (out / "grey_alpha8.png").write_bytes(png(w, h, 4, 8, grey_alpha))


if __name__ == "__main__":
    onnx_seeds()
    npy_seeds()
    png_seeds()
    print(f"wrote the onnx, npy and png seeds into {CORPUS}")
