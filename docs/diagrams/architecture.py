"""Draws docs/architecture.svg, the one-page picture of M3RT's parts and data flow (plain SVG, no packages).

Run from anywhere: `python docs/diagrams/architecture.py`; with `--check` it only checks that the committed
SVG is what it draws (`cargo xtask docs-check` does).
"""
from pathlib import Path

W, H = 980, 560
BOX = {  # name: (x, y, w, h, fill, lines)
    "export": (20, 40, 190, 70, "#eef3fb", ["models/export.py", "checkpoint → ONNX + golden", "(or torch.onnx.export)"]),
    "convert": (250, 40, 200, 70, "#eef3fb", ["m3rt convert (tract)", "match M³ViT, merge tasks,", "f32 / f16 / fixed16 / int8"]),
    "bundle": (490, 40, 170, 70, "#fff6e0", ["bundle .m3b", "one format, spec'd and", "CRC-checked (bundle-format.md)"]),
    "client": (720, 40, 240, 70, "#eef3fb", ["m3rt board / flash", "serial protocol: postcard + CRC", "+ COBS (serial-protocol.md)"]),
    "core": (250, 170, 410, 150, "#e9f7ec", []),
    "cpu": (20, 380, 190, 70, "#f3f3f3", ["CpuBackend (f32)", "portable · AVX2 kernels", "host · Cortex-A53 · Cortex-M4F"]),
    "fixed": (250, 380, 190, 70, "#f3f3f3", ["FixedBackend", "the IP's golden model,", "bit for bit (fixed-point.md)"]),
    "accel": (480, 380, 200, 70, "#f3f3f3", ["AccelBackend", "RegisterBus + DMA memory", "(accel-bridge.md)"]),
    "serve": (720, 170, 240, 150, "#e9f7ec", ["board firmware / m3rt serve", "command loop (m3rt::serve)", "A/B model slots", "task switch = pointer swap", "QEMU: zcu102 (A53), mps2-an386", "Linux: m3rt-board"]),
    "ip": (380, 490, 190, 56, "#fde8e8", ["HLS IP on the ZCU104 PL", "(hls/, Vitis HLS C++)"]),
    "csim": (582, 490, 180, 56, "#fde8e8", ["C-simulated IP", "(g++, same C++) bit-exact"]),
    "sim": (772, 490, 190, 56, "#fde8e8", ["m3rt-sim: cycle + energy", "model (SIMULATED figures)"]),
}
CORE_LINES = [
    ("m3rt core: no_std, no allocator, no panic on outside bytes", True),
    ("Bundle::parse: zero-copy weights, every byte validated", False),
    ("select_task(t): the task's gates and head, one index store", False),
    ("MoE layer: router top-k per token → token queues per expert", False),
    ("each active expert once over its queue, next one's weights loading", False),
    ("only the selected task's experts are computed or fetched", False),
]
ARROWS = [
    ("export", "convert", ""), ("convert", "bundle", ""), ("bundle", "core", "parse"),
    ("client", "serve", "frames"), ("serve", "core", "runs"), ("core", "cpu", ""), ("core", "fixed", ""),
    ("core", "accel", ""), ("accel", "ip", "MMIO"), ("accel", "csim", "C-sim bus"), ("accel", "sim", "SimBus"),
]


def center(name, side):
    x, y, w, h = BOX[name][:4]
    return {"top": (x + w / 2, y), "bottom": (x + w / 2, y + h), "left": (x, y + h / 2), "right": (x + w, y + h / 2)}[side]


def arrow(a, b, label):
    ax, ay, aw, ah = BOX[a][:4]
    bx, by, bw, bh = BOX[b][:4]
    if ay + ah <= by:
        (x1, y1), (x2, y2) = center(a, "bottom"), center(b, "top")
        if a == "core":
            x1 = min(max(bx + bw / 2, ax + 20), ax + aw - 20)
        if b == "core":
            x2 = min(max(ax + aw / 2, bx + 20), bx + bw - 20)
    elif ax + aw <= bx:
        (x1, y1), (x2, y2) = center(a, "right"), center(b, "left")
    else:
        (x1, y1), (x2, y2) = center(a, "left"), center(b, "right")
    out = f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555" stroke-width="1.5" marker-end="url(#head)"/>'
    if label:
        out += f'<text x="{(x1 + x2) / 2 + 4:.0f}" y="{(y1 + y2) / 2 - 3:.0f}" font-size="11" fill="#333">{label}</text>'
    return out


def box(name):
    x, y, w, h, fill, lines = BOX[name]
    out = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#666"/>']
    for i, line in enumerate(lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(f'<text x="{x + 8}" y="{y + 18 + 16 * i}" font-size="12"{weight}>{escape(line)}</text>')
    return "".join(out)


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg():
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="DejaVu Sans, sans-serif">',
             '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             '<text x="20" y="24" font-size="15" font-weight="bold">M3RT: from a checkpoint to a task on the edge</text>',
             '<text x="20" y="150" font-size="11" fill="#666">host tools (std, tract)</text>',
             '<text x="700" y="405" font-size="11" fill="#666">backends: one Inference seam,</text>',
             '<text x="700" y="420" font-size="11" fill="#666">the same calls on each</text>',
             '<text x="20" y="515" font-size="11" fill="#666">the accelerator, three ways</text>',
             '<text x="20" y="530" font-size="11" fill="#666">behind one register map:</text>']
    parts += [box(n) for n in BOX]
    x, y = BOX["core"][:2]
    for i, (line, bold) in enumerate(CORE_LINES):
        weight = ' font-weight="bold"' if bold else ""
        parts.append(f'<text x="{x + 8}" y="{y + 20 + 22 * i}" font-size="12"{weight}>{escape(line)}</text>')
    parts += [arrow(a, b, label) for a, b, label in ARROWS]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    import sys
    out = Path(__file__).resolve().parent.parent / "architecture.svg"
    if "--check" in sys.argv:
        if not out.exists() or out.read_text(encoding="utf-8") != svg():
            sys.exit(f"{out} is not what {Path(__file__).name} draws: run it again and commit the SVG")
        print(f"{out.name} is up to date")
    else:
        out.write_text(svg(), encoding="utf-8")
        print(f"wrote {out}")
