"""Reads PyTorch `.pth` checkpoints (the zip format of torch.save since 1.6) without PyTorch.

The zip holds `<prefix>/data.pkl`, a pickle whose tensors are `torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, ...)` calls and whose storages are persistent ids `('storage', storage_type, key, location,
numel)` naming the raw little-endian bytes in `<prefix>/data/<key>`. A restricted unpickler maps exactly those
globals to numpy; any other global becomes an inert stand-in object (never imported, never called).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the config."""


def _bf16(raw: bytes, order: str) -> np.ndarray:
    u16 = np.frombuffer(raw, dtype=order + "u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


_STORAGES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "b1",
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGES[name]


class _Storage:
    def __init__(self, array: np.ndarray):
        self.array = array


class _Opaque:
    """Stand-in for any global the checkpoint references that is not part of a tensor (e.g. argparse args)."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    def __reduce__(self):  # pragma: no cover - never pickled back
        raise TypeError("opaque stand-in")


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise CheckpointError("malformed .pth: _rebuild_tensor_v2 without a storage")
    arr = storage.array
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise CheckpointError(f"malformed .pth: size {size} and stride {stride} differ in rank")
    if any(s == 0 for s in size):
        return np.zeros(size, dtype=arr.dtype)
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or any(s < 0 for s in stride) or last >= arr.size:
        raise CheckpointError(f"malformed .pth: tensor view (offset {offset}, size {size}, stride {stride}) "
                              f"exceeds its storage of {arr.size} elements")
    view = np.lib.stride_tricks.as_strided(arr[offset:], shape=size,
                                           strides=tuple(s * arr.itemsize for s in stride), writeable=False)
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, order: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.order = archive, prefix, order
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        return type(f"{module}.{name}", (_Opaque,), {})

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"malformed .pth: unsupported persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"unsupported storage type {getattr(stype, '__name__', stype)!r} in .pth")
        key = str(key)
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}/data/{key}")
            except KeyError as e:
                raise CheckpointError(f"malformed .pth: storage {key} missing from the zip") from e
            if stype.dtype == "bf16":
                arr = _bf16(raw, self.order)
            elif stype.dtype == "b1":
                arr = np.frombuffer(raw, dtype=np.bool_)
            else:
                arr = np.frombuffer(raw, dtype=np.dtype(self.order + stype.dtype))
            if int(numel) not in (arr.size, len(raw)):
                raise CheckpointError(f"malformed .pth: storage {key} holds {arr.size} elements, id says {numel}")
            self.storages[key] = _Storage(arr)
        return self.storages[key]


def load_pth(path: str) -> object:
    """Unpickles a torch.save zip; tensors come back as numpy arrays."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a zip; legacy (pre-1.6, non-zip) torch checkpoints are not supported, "
                              "re-save it with torch.save(..., _use_new_zipfile_serialization=True)")
    with zipfile.ZipFile(path) as archive:
        pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: expected exactly one <prefix>/data.pkl in the zip, found {len(pkls)}")
        prefix = pkls[0][: -len("/data.pkl")]
        order = "<"
        if f"{prefix}/byteorder" in archive.namelist():
            order = ">" if archive.read(f"{prefix}/byteorder").strip() == b"big" else "<"
        try:
            return _Unpickler(archive.read(pkls[0]), archive, prefix, order).load()
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from e
        except (pickle.UnpicklingError, EOFError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{path}: cannot unpickle data.pkl: {e}") from e
