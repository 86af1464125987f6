"""A restricted unpickler for official snapshot pickles: data in, never code.

An official ``.pkl`` is a plain pickle whose networks were written through the official
"persistence" mechanism: each network object becomes a call
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` carries the class name,
the full source text of the module that defined it, and the object's ``__dict__``. The official
loader executes that source, which is how a crafted file runs arbitrary code when opened.

This reader resolves every global the pickle names against a short allow-list and refuses anything
else (``os.system``, ``builtins.eval``, any unknown module) before it is imported or called. Allowed
names map to our own functions: tensors are rebuilt from storages, storages are read with
``torch.load(weights_only=True)``, and persistent objects and the few plain classes become inert
:class:`Record` objects whose ``module_src`` is kept as text only.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import numpy as np
import torch

from panohead.errors import one_line
from panohead.untrusted import check_nesting


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list; ``name`` is its dotted name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"refused global {name!r}")
        self.name = name


class Record:
    """An inert stand-in for an official object: its class name and state, nothing callable.

    ``kind`` is ``"persistent"`` for persistence records (``module_src`` holds the embedded source,
    never executed) and ``"plain"`` for the allowed ordinary classes (``module`` names it).
    """

    def __init__(
        self,
        class_name: str,
        kind: str,
        module: str | None = None,
        module_src: str | None = None,
        version: int | None = None,
    ) -> None:
        self.class_name = class_name
        self.kind = kind
        self.module = module
        self.module_src = module_src
        self.version = version
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        # Plain classes arrive through NEWOBJ + BUILD: the state is the object's __dict__.
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"{self.class_name}: object state is a {type(state).__name__}, expected a dict"
            )
        self.state = dict(state)

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    def child(self, name: str) -> Record | None:
        """Sub-module ``name`` (None when absent or stored as None)."""
        return (self.state.get("_modules") or {}).get(name)

    def children(self) -> dict[str, Record | None]:
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and buffers of this record and its sub-records, keyed like ``state_dict()``."""
        found: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if value is not None:
                    found[prefix + name] = value
        for name, child in self.children().items():
            if isinstance(child, Record):
                found.update(child.tensors(f"{prefix}{name}."))
        return found

    def walk(self, prefix: str = ""):
        """Yield (dotted path, record) for this record and every sub-record."""
        yield prefix.rstrip("."), self
        for name, child in self.children().items():
            if isinstance(child, Record):
                yield from child.walk(f"{prefix}{name}.")

    def __repr__(self) -> str:
        return f"Record({self.class_name!r}, {self.kind})"


def _easy_dict_class() -> type:
    """``dnnlib.util.EasyDict`` read as a plain dict (it is a dict subclass with attribute access)."""
    return type("EasyDict", (dict,), {"__module__": __name__})


def _plain_class(dotted: str) -> type:
    """A Record subclass standing in for an allowed ordinary class (built by NEWOBJ, filled by BUILD)."""
    module, _, name = dotted.rpartition(".")

    def new(cls, *args, **kwargs):
        return Record(name, "plain", module=module)

    return type(name, (Record,), {"__new__": new, "__module__": __name__})


def _reconstruct_persistent_obj(meta: Any) -> Record:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistence record without type 'class'")
    class_name, module_src, state = meta.get("class_name"), meta.get("module_src"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(module_src, str) or not isinstance(state, dict):
        raise pickle.UnpicklingError("persistence record lacks class_name, module_src or state")
    record = Record(class_name, "persistent", module_src=module_src, version=meta.get("version"))
    record.state = dict(state)
    return record


def _check_storage_sizes(data: bytes) -> None:
    """Refuse an embedded ``torch.save`` blob whose storages claim more elements than its bytes hold.

    The legacy format (four pickles, then the raw bytes) names each storage as a persistent id
    ``('storage', <class>, key, location, numel)``, and torch allocates ``numel`` elements before it
    reads them: 9 bytes could ask for gigabytes. The pickles are only scanned here (pickletools),
    never executed.
    """
    stream = io.BytesIO(data)
    for _ in range(4):  # magic number, protocol, system info, the storages' pickle
        itemsize, last_int = 1, None
        try:
            for opcode, argument, _ in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "STACK_GLOBAL") and isinstance(argument, str):
                    itemsize = _STORAGE_ITEMSIZE.get(argument.split()[-1], 1)
                elif opcode.name in _INT_OPCODES:
                    last_int = argument
                elif (
                    opcode.name in ("BINPERSID", "PERSID") and last_int is not None and last_int * itemsize > len(data)
                ):
                    raise pickle.UnpicklingError(
                        f"an embedded tensor storage claims {last_int} elements, more than its {len(data)} bytes hold"
                    )
                if opcode.name == "STOP":
                    break
        except (ValueError, EOFError):
            return  # not the legacy layout: torch's reader judges it


_INT_OPCODES = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}
# Element sizes of the legacy storage classes (torch.FloatStorage, ...); unknown ones count as 1 byte.
_STORAGE_ITEMSIZE = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
}


def _load_from_bytes(data: Any) -> torch.storage.TypedStorage:
    """A tensor storage embedded as the bytes of a nested ``torch.save``, read with torch's weights-only reader."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("tensor storage is not stored as bytes")
    _check_storage_sizes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"embedded storage holds a {type(storage).__name__}, expected a tensor storage")
    return storage


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
    """A tensor view of ``storage``; torch checks the view fits inside the storage."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("tensor without a storage")
    if not (isinstance(offset, int) and isinstance(size, (tuple, torch.Size)) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("malformed tensor layout")
    if len(rest) >= 2 and rest[1]:
        raise pickle.UnpicklingError("tensor with backward hooks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        untyped = storage._untyped_storage
    tensor = torch.empty((0,), dtype=storage.dtype)
    try:
        tensor.set_(untyped, offset, tuple(size), tuple(stride))
    except (RuntimeError, TypeError) as error:
        raise pickle.UnpicklingError(f"tensor does not fit its storage ({one_line(error)})") from None
    return tensor


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter without tensor data")
    if backward_hooks:
        raise pickle.UnpicklingError("parameter with backward hooks")
    return data


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """A numeric numpy scalar from its raw bytes (object dtypes are refused)."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("numpy scalar that is not a plain number")
    if len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar with the wrong number of bytes")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_dtype(name: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(name, str):
        raise pickle.UnpicklingError("numpy dtype without a name")
    # A copy: the pickle then sets its state (BUILD), which must not reach numpy's shared instances.
    return np.dtype(name).newbyteorder("=")


_PLAIN_CLASSES = (
    "torch.nn.modules.activation.Softplus",
    "torch.nn.modules.container.Sequential",
    "training.volumetric_rendering.ray_sampler.RaySampler",
    # EG3D's decoder, renderer and ray marcher are ordinary (non-persistent) classes.
    "training.triplane.OSGDecoder",
    "training.volumetric_rendering.renderer.ImportanceRenderer",
    "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
)

_FUNCTIONS: dict[str, Any] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_from_bytes,
    "numpy.dtype": _numpy_dtype,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "torch_utils.persistence._reconstruct_persistent_obj": _reconstruct_persistent_obj,
}
ALLOWED_NAMES = frozenset(
    {
        "collections.OrderedDict",
        "builtins.set",
        "builtins.frozenset",
        "dnnlib.util.EasyDict",
        *_FUNCTIONS,
        *_PLAIN_CLASSES,
    }
)


def _fresh(function: Callable) -> Callable:
    """A new function object with ``function``'s code: attributes a file sets on it die with the load."""
    copy = types.FunctionType(
        function.__code__, function.__globals__, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def allowed_globals() -> dict[str, Any]:
    """The allow-list for one load: fresh stand-in classes and function objects, so nothing a file does
    to them (a refused file included) reaches a later load. Built-in types cannot be modified."""
    table: dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "builtins.set": set,  # pickle protocols < 4 write sets as calls
        "builtins.frozenset": frozenset,
        "dnnlib.util.EasyDict": _easy_dict_class(),
        **{name: _fresh(function) for name, function in _FUNCTIONS.items()},
        **{name: _plain_class(name) for name in _PLAIN_CLASSES},
    }
    assert set(table) == ALLOWED_NAMES
    return table


class _BoundedReader:
    """A file opened for unpickling that never hands out more than it holds.

    A length field announcing more bytes than remain is a truncated (or hostile) file: it fails at
    once instead of asking the file object for a buffer of the announced size. ``progress(done,
    total)`` is told how far reading got.
    """

    def __init__(self, handle: BinaryIO, total: int, progress: Callable[[int, int], None] | None = None) -> None:
        self.handle, self.total, self.progress = handle, total, progress

    def _check(self, size: int) -> None:
        if size > self.total - self.handle.tell():
            raise pickle.UnpicklingError(f"a length field asks for {size} bytes past the end: the file is truncated")

    def _report(self, data):
        if self.progress is not None:
            self.progress(self.handle.tell(), self.total)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            self._check(size)
        return self._report(self.handle.read(size))

    def readinto(self, buffer) -> int:
        self._check(len(buffer))
        return self._report(self.handle.readinto(buffer))

    def readline(self, size: int = -1) -> bytes:
        return self._report(self.handle.readline(size))

    def peek(self, size: int = 0) -> bytes:
        return self.handle.peek(size) if hasattr(self.handle, "peek") else b""


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler whose globals come only from a fresh :func:`allowed_globals` table.

    It is Python's pure-Python unpickler: its memo is a dict, so a memo index of 2**29 costs one
    entry (the C unpickler allocates an array that long). BUILD may only fill objects this load
    created (records, EasyDicts, dtype copies), never a class or a function the allow-list hands out.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(stream)
        self._allowed = allowed_globals()
        self._buildable = (Record, np.dtype, self._allowed["dnnlib.util.EasyDict"])

    def find_class(self, module: str, name: str) -> Any:
        dotted = f"{module}.{name}"
        if dotted not in self._allowed:
            raise RefusedGlobal(dotted)
        return self._allowed[dotted]

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by official snapshots")

    def load_build(self) -> None:
        if not isinstance(self.stack[-2], self._buildable):
            raise pickle.UnpicklingError(
                f"the pickle sets the state of a {type(self.stack[-2]).__name__}, which no official snapshot does"
            )
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def plain(value: Any) -> Any:
    """Copy nested EasyDicts/OrderedDicts/lists as plain dicts and lists (records and tensors kept)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


MAX_DEPTH = 100  # official snapshots nest about 25 levels (records, their state dicts, tensors)


def _children(value: Any) -> Iterable[Any] | None:
    """What a container read from a pickle holds; None for leaves (numbers, text, tensors)."""
    if isinstance(value, Record):
        return (value.state,)
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    return None


def restricted_load(
    stream: BinaryIO, total: int | None = None, progress: Callable[[int, int], None] | None = None
) -> Any:
    """Unpickle ``stream`` (``total`` bytes long; default: measured) with :class:`RestrictedUnpickler`,
    then refuse cycles and deep nesting before our recursive walkers meet them (raises RefusedGlobal,
    UnpicklingError or UntrustedDataError)."""
    if total is None:
        position = stream.tell()
        total = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    data = RestrictedUnpickler(_BoundedReader(stream, total, progress)).load()
    check_nesting(data, _children, MAX_DEPTH)
    return data
