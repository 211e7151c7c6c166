#!/usr/bin/env python3
"""An encoder of docs/bundle-format.md and docs/fixed-point.md ("Quantization"), written from those pages
alone (no code shared with the Rust crate), for the pinned bytes of `runtime/tests/bundle_quantized.rs`.

It writes the tiny model of `runtime/tests/bundle_common` (2x2 image, one 2x2 patch, D = 2, one MoE block
of 2 experts, the light head of width 2, one task "d" of 1 channel) with the tensor values
`((7 i + 3 j) mod 23) / 8 - 1`, quantized with a profile, and prints what the tests pin.

    python3 runtime/tests/data/tiny_quantized.py fixed16 SCRATCH
    python3 runtime/tests/data/tiny_quantized.py int8 SCRATCH      # per channel
    python3 runtime/tests/data/tiny_quantized.py int8-tensor SCRATCH

SCRATCH is the header's scratch_floats (a figure of the f32 engine's scratch layout, not of the format).
"""
import math
import struct
import sys
import zlib

D, T = 2, 2
# (kind, shape) in canonical order (model::canonical_key) for the tiny model.
TENSORS = [
    ("PatchW", [2, 3, 2, 2]), ("PatchB", [2]), ("ClsToken", [2]), ("PosEmbed", [2, 2]),
    ("Ln1G", [2]), ("Ln1B", [2]), ("QkvW", [2, 6]), ("QkvB", [6]), ("ProjW", [2, 2]), ("ProjB", [2]),
    ("Ln2G", [2]), ("Ln2B", [2]), ("ExpW1", [2, 2, 2]), ("ExpB1", [2, 2]), ("ExpW2", [2, 2, 2]),
    ("ExpB2", [2, 2]), ("Gate", [2, 2]), ("HeadLnG", [2]), ("HeadLnB", [2]), ("HeadConvW", [2, 2, 3, 3]),
    ("HeadConvB", [2]), ("HeadConvW", [1, 2, 1, 1]), ("HeadConvB", [1]),
]
MATRICES = {"PatchW", "QkvW", "ProjW", "ExpW1", "ExpW2", "Gate", "HeadConvW"}
ATTN_BIAS = {"QkvB", "ProjB"}
# Edge-MoE's formats (width, int, signed): act, weight, patch weight, bias, attention bias, pixel.
FORMATS = [(32, 10, True), (16, 2, True), (16, 0, True), (16, 5, True), (16, 7, True), (8, 0, False)]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f32(x):
    return struct.pack("<f", x)


def numel(shape):
    return math.prod(shape)


def value(i, j):
    return ((i * 7 + j * 3) % 23) * 0.125 - 1.0


def fmt_of(kind):
    if kind == "PatchW":
        return FORMATS[2]
    if kind in MATRICES:
        return FORMATS[1]
    if kind in ATTN_BIAS:
        return FORMATS[4]
    return FORMATS[3]


def q16(v, fmt):
    """clamp(round_half_even(v * 2^F), min, max); Python's round() on a float is half-to-even."""
    w, i, _ = fmt
    raw = round(v * 2.0 ** (w - i))
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    return min(max(raw, lo), hi), not lo <= raw <= hi


def channel(kind, shape, j):
    """The output channel of element j: first dim of convolutions, e*out + n of experts, else last dim."""
    if kind in ("PatchW", "HeadConvW"):
        return j // (numel(shape) // shape[0])
    if kind in ("ExpW1", "ExpW2"):
        e, i, o = shape
        return (j // (i * o)) * o + j % o
    return j % shape[-1]


def scale_of(a):
    """(m, s) for a channel of largest magnitude a: sigma = a/127, 2^15 <= sigma 2^s < 2^16."""
    if a == 0:
        return 0, 0
    sigma = a / 127
    _, e = math.frexp(sigma)  # sigma = f 2^e, 0.5 <= f < 1, so sigma 2^(16-e) lies in [2^15, 2^16)
    s = min(max(16 - e, 0), 63)
    return min(round(sigma * 2.0 ** s), 65535), s


def encode(mode, scratch):
    int8 = mode != "fixed16"
    per_channel = mode == "int8"
    header = b"".join(varint(x) for x in [2, 2, 3, 2, 2, 1, 1, 2, 2, 1, 2, 1])
    header += bytes([1]) + varint(2) + f32(1e-6) + f32(0.0) * 3 + f32(1.0) * 3
    header += varint(1) + varint(1) + varint(1) + b"d" + varint(1) + bytes([0])
    header += varint(len(TENSORS)) + varint(scratch)
    # The profile: weight mode u8, then (width u8, int i8, signed bool) for the six formats.
    weight_mode = {"fixed16": 0, "int8-tensor": 1, "int8": 2}[mode]
    header += bytes([weight_mode]) + b"".join(struct.pack("<Bb?", *f) for f in FORMATS)

    table_start = (40 + len(header) + 7) // 8 * 8
    weights_start = (table_start + 40 * len(TENSORS) + 63) // 64 * 64
    records, blobs, saturated = [], [], []
    end = weights_start
    for i, (kind, shape) in enumerate(TENSORS):
        vals = [value(i, j) for j in range(numel(shape))]
        if int8 and kind in MATRICES:
            chans = [channel(kind, shape, j) if per_channel else 0 for j in range(len(vals))]
            count = max(chans) + 1
            absmax = [max(abs(v) for v, c in zip(vals, chans) if c == k) for k in range(count)]
            scales = [scale_of(a) for a in absmax]
            qs, sat = [], 0
            for v, c in zip(vals, chans):
                m, s = scales[c]
                q = round(v / (m * 2.0 ** -s)) if m else 0
                sat += not -127 <= q <= 127
                qs.append(min(max(q, -127), 127))
            blob = struct.pack(f"<{len(qs)}b", *qs)
            blob += bytes(-len(blob) % 4) + b"".join(struct.pack("<I", m | s << 16) for m, s in scales)
            dtype = 3
        else:
            pairs = [q16(v, fmt_of(kind)) for v in vals]
            sat = sum(p[1] for p in pairs)
            blob = struct.pack(f"<{len(pairs)}h", *(p[0] for p in pairs))
            dtype = 2
        offset = (end + 63) // 64 * 64
        end = offset + len(blob)
        dims = shape + [1] * (4 - len(shape))
        records.append(struct.pack("<IBBH4IQQ", i, dtype, len(shape), 0, *dims, offset, len(blob)))
        blobs.append((offset, blob))
        saturated.append(sat)
    out = bytearray(end)
    out[40:40 + len(header)] = header
    table = b"".join(records)
    out[table_start:table_start + len(table)] = table
    for offset, blob in blobs:
        out[offset:offset + len(blob)] = blob
    weights = bytes(out[weights_start:end])
    preamble = b"M3RTBNDL" + struct.pack(
        "<HHIIIIIQ", 1, 1, len(header), zlib.crc32(header), len(table), zlib.crc32(table),
        zlib.crc32(weights), end - weights_start)
    out[:40] = preamble
    return bytes(out), header, table_start, saturated


def rust_bytes(b):
    return ", ".join(f"0x{x:02X}" for x in b)


if __name__ == "__main__":
    mode, scratch = sys.argv[1], int(sys.argv[2])
    data, header, table_start, saturated = encode(mode, scratch)
    print(f"len {len(data)}, crc32 of the whole bundle 0x{zlib.crc32(data):08X}, header_len {len(header)}")
    print(f"table at {table_start}; saturated per tensor {saturated} (total {sum(saturated)})")
    print(f"preamble: [{rust_bytes(data[:40])}]")
    print(f"header: [{rust_bytes(header)}]")
    for i in range(len(TENSORS)):
        r = data[table_start + 40 * i:table_start + 40 * (i + 1)]
        offset, length = struct.unpack("<QQ", r[24:40])
        print(f"record {i} {TENSORS[i][0]}: [{rust_bytes(r)}]")
        print(f"  data ({length} bytes at {offset}): [{rust_bytes(data[offset:offset + length])}]")
