"""Writes checkpoints in torch.save's zip layout without PyTorch, opcode by opcode, for the import tests.

Layout: `<prefix>/data.pkl` (pickle protocol 2), `<prefix>/data/<key>` (raw little-endian storage bytes),
`<prefix>/version`, `<prefix>/byteorder`. A tensor pickles as
`GLOBAL torch._utils _rebuild_tensor_v2` applied to `(storage, offset, size, stride, False, OrderedDict())`,
the storage being the persistent id `('storage', GLOBAL torch.<T>Storage, key, 'cpu', numel)`.
"""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile

import numpy as np

_STORAGE = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float16): "HalfStorage",
            np.dtype(np.float64): "DoubleStorage", np.dtype(np.int64): "LongStorage"}


class View:
    """A tensor that is a strided view into `base` (which becomes one storage)."""

    def __init__(self, base: np.ndarray, offset: int, size: tuple, stride: tuple):
        self.base, self.offset, self.size, self.stride = base, offset, size, stride


class Raw:
    """Pickles `GLOBAL module name` applied to args (for hostile-pickle tests)."""

    def __init__(self, module: str, name: str, args: tuple):
        self.module, self.name, self.args = module, name, args


class _Writer:
    def __init__(self):
        self.out = bytearray(pickle.PROTO + b"\x02")
        self.storages: list[tuple[str, bytes]] = []

    def emit(self, b: bytes):
        self.out += b

    def glob(self, module: str, name: str):
        self.emit(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    def value(self, v):
        if isinstance(v, bool):
            self.emit(pickle.NEWTRUE if v else pickle.NEWFALSE)
        elif isinstance(v, int):
            self.emit(pickle.BININT + struct.pack("<i", v))
        elif isinstance(v, float):
            self.emit(pickle.BINFLOAT + struct.pack(">d", v))
        elif isinstance(v, str):
            b = v.encode()
            self.emit(pickle.BINUNICODE + struct.pack("<I", len(b)) + b)
        elif isinstance(v, tuple):
            self.emit(pickle.MARK)
            for x in v:
                self.value(x)
            self.emit(pickle.TUPLE)
        elif isinstance(v, dict):
            if isinstance(v, collections.OrderedDict):
                self.glob("collections", "OrderedDict")
                self.emit(pickle.EMPTY_TUPLE + pickle.REDUCE)
            else:
                self.emit(pickle.EMPTY_DICT)
            self.emit(pickle.MARK)
            for k, x in v.items():
                self.value(k)
                self.value(x)
            self.emit(pickle.SETITEMS)
            if getattr(v, "_metadata", None) is not None:   # what torch's state_dict() carries
                self.value({"_metadata": v._metadata})
                self.emit(pickle.BUILD)
        elif isinstance(v, np.ndarray):
            a = np.array(v, order="C")
            self.tensor(a.reshape(-1), 0, a.shape, tuple(s // a.itemsize for s in a.strides) if a.ndim else ())
        elif isinstance(v, View):
            self.tensor(np.ascontiguousarray(v.base).reshape(-1), v.offset, v.size, v.stride)
        elif isinstance(v, Raw):
            self.glob(v.module, v.name)
            self.value(v.args)
            self.emit(pickle.REDUCE)
        else:
            raise TypeError(type(v))

    def tensor(self, flat: np.ndarray, offset: int, size: tuple, stride: tuple):
        key = str(len(self.storages))
        self.storages.append((key, flat.astype(flat.dtype.newbyteorder("<")).tobytes()))
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.emit(pickle.MARK)
        self.emit(pickle.MARK)
        self.value("storage")
        self.glob("torch", _STORAGE[flat.dtype])
        self.value(key)
        self.value("cpu")
        self.value(int(flat.size))
        self.emit(pickle.TUPLE + pickle.BINPERSID)
        self.value(int(offset))
        self.value(tuple(int(s) for s in size))
        self.value(tuple(int(s) for s in stride))
        self.value(False)
        self.value(collections.OrderedDict())
        self.emit(pickle.TUPLE + pickle.REDUCE)


def write_pth(path, obj, prefix: str = "archive") -> None:
    w = _Writer()
    w.value(obj)
    w.emit(pickle.STOP)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", bytes(w.out))
        z.writestr(f"{prefix}/byteorder", "little")
        for key, data in w.storages:
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")
