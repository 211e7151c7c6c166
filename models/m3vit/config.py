"""Model configuration: a TOML file in which every hyperparameter is a value, validated up front."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

POSTS = ("argmax", "raw", "sigmoid", "l2norm")
HEADS = ("pup", "light")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = ("image", "input")


class ConfigError(ValueError):
    """A configuration that cannot describe a valid model."""


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    channels: int
    post: str


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    image_h: int
    image_w: int
    patch: int
    dim: int
    depth: int
    heads: int
    mlp_ratio: float
    experts: int
    top_k: int
    expert_hidden: int
    moe_blocks: tuple[int, ...]
    head: str
    head_width: int
    ln_eps: float
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    seed: int
    golden_inputs: int
    golden_seed: int
    tasks: tuple[Task, ...]

    @property
    def grid_h(self) -> int:
        return self.image_h // self.patch

    @property
    def grid_w(self) -> int:
        return self.image_w // self.patch

    @property
    def patches(self) -> int:
        return self.grid_h * self.grid_w

    @property
    def tokens(self) -> int:
        return self.patches + 1

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.mlp_ratio * self.dim))

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def is_moe(self, block: int) -> bool:
        return block in self.moe_blocks


_TOP_KEYS = {
    "name", "image_h", "image_w", "patch", "dim", "depth", "heads", "mlp_ratio", "experts", "top_k",
    "expert_hidden", "moe_blocks", "head", "head_width", "ln_eps", "normalize", "seed", "golden_inputs",
    "golden_seed", "tasks",
}


def _get(table: dict, key: str, kind, where: str):
    if key not in table:
        raise ConfigError(f"{where}: missing key `{key}`")
    value = table[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: `{key}` must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: `{key}` must be a number, got {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: `{key}` must be a string, got {value!r}")
    return value


def _positive(where: str, **values) -> None:
    for key, value in values.items():
        if value <= 0:
            raise ConfigError(f"{where}: `{key}` must be positive, got {value}")


def _triple(value, key: str, where: str) -> tuple[float, float, float]:
    if (not isinstance(value, list) or len(value) != 3
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
        raise ConfigError(f"{where}: `normalize.{key}` must be a list of 3 numbers, got {value!r}")
    return tuple(float(v) for v in value)


def parse(table: dict, where: str = "config") -> Config:
    """Validates a parsed TOML table and returns the configuration; raises ConfigError naming the problem."""
    unknown = sorted(set(table) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = _get(table, "name", str, where)
    h, w, p = (_get(table, k, int, where) for k in ("image_h", "image_w", "patch"))
    dim, depth, heads = (_get(table, k, int, where) for k in ("dim", "depth", "heads"))
    mlp_ratio = _get(table, "mlp_ratio", float, where)
    experts, top_k, dh = (_get(table, k, int, where) for k in ("experts", "top_k", "expert_hidden"))
    head = _get(table, "head", str, where)
    width = _get(table, "head_width", int, where)
    ln_eps = _get(table, "ln_eps", float, where)
    seed, golden_inputs, golden_seed = (_get(table, k, int, where) for k in ("seed", "golden_inputs", "golden_seed"))
    _positive(where, image_h=h, image_w=w, patch=p, dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
              experts=experts, top_k=top_k, expert_hidden=dh, head_width=width, ln_eps=ln_eps)
    if golden_inputs < 0 or seed < 0 or golden_seed < 0:
        raise ConfigError(f"{where}: `seed`, `golden_seed` and `golden_inputs` must be non-negative")
    if h % p or w % p:
        raise ConfigError(f"{where}: patch {p} does not divide the image {h}x{w}")
    if dim % heads:
        raise ConfigError(f"{where}: heads {heads} does not divide dim {dim}")
    if abs(mlp_ratio * dim - round(mlp_ratio * dim)) > 1e-9:
        raise ConfigError(f"{where}: mlp_ratio*dim = {mlp_ratio * dim} is not an integer")
    if top_k > experts:
        raise ConfigError(f"{where}: top_k {top_k} exceeds experts {experts}")
    if head not in HEADS:
        raise ConfigError(f"{where}: head must be one of {', '.join(HEADS)}, got {head!r}")
    if head == "pup" and p != 16:
        raise ConfigError(f"{where}: the pup head upsamples x16 (four x2 steps), so it needs patch 16, got {p}")
    tokens = (h // p) * (w // p) + 1
    if tokens % 48 == 0:
        raise ConfigError(
            f"{where}: token count T = N+1 = {tokens} is a multiple of 48; the reference head would keep the "
            "cls token there (a quirk this runtime does not reproduce); choose another image size")

    moe = table.get("moe_blocks", list(range(1, depth, 2)))
    if not isinstance(moe, list) or any(isinstance(b, bool) or not isinstance(b, int) for b in moe):
        raise ConfigError(f"{where}: `moe_blocks` must be a list of block indices, got {moe!r}")
    if len(set(moe)) != len(moe) or any(b < 0 or b >= depth for b in moe):
        raise ConfigError(f"{where}: `moe_blocks` {moe} must be distinct indices in 0..{depth - 1}")

    mean = std = None
    if "normalize" in table:
        norm = table["normalize"]
        if not isinstance(norm, dict) or set(norm) != {"mean", "std"}:
            raise ConfigError(f"{where}: `normalize` must be a table with exactly `mean` and `std`")
        mean, std = _triple(norm["mean"], "mean", where), _triple(norm["std"], "std", where)
        if any(s <= 0 for s in std):
            raise ConfigError(f"{where}: `normalize.std` must be positive, got {list(std)}")

    raw_tasks = table.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise ConfigError(f"{where}: at least one [[tasks]] entry is required")
    tasks = []
    for i, t in enumerate(raw_tasks):
        tw = f"{where}: tasks[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{tw}: must be a table")
        extra = sorted(set(t) - {"name", "channels", "post"})
        if extra:
            raise ConfigError(f"{tw}: unknown key(s) {', '.join(extra)}")
        tname = _get(t, "name", str, tw)
        if not _NAME.match(tname) or tname in _RESERVED or tname.startswith("route_"):
            raise ConfigError(f"{tw}: task name {tname!r} must be an identifier, not `image`/`input`/`route_*`")
        channels = _get(t, "channels", int, tw)
        _positive(tw, channels=channels)
        post = _get(t, "post", str, tw)
        if post not in POSTS:
            raise ConfigError(f"{tw}: post must be one of {', '.join(POSTS)}, got {post!r}")
        tasks.append(Task(tname, channels, post))
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError(f"{where}: task names must be distinct")

    return Config(name, h, w, p, dim, depth, heads, mlp_ratio, experts, top_k, dh, tuple(sorted(moe)), head, width,
                  ln_eps, mean, std, seed, golden_inputs, golden_seed, tuple(tasks))


def load(path: str | Path) -> Config:
    """Reads and validates a config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    return parse(table, str(path))
