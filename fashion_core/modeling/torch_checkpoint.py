"""Read PyTorch checkpoints into numpy arrays without torch, through a restricted unpickler."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from fashion_core.errors import ModelError, WeightsUnavailableError

# The legacy (pre-1.6, non-zip) format starts with these two pickled values.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stand-in for a ``torch.<X>Storage`` class: its name and how its bytes decode.

    Frozen with slots, so a hostile pickle's BUILD opcode cannot alter the shared instances.
    """

    name: str
    code: str  # numpy dtype code without byte order, or "bf16" (numpy has no bfloat16)

    @property
    def itemsize(self) -> int:
        return 2 if self.code == "bf16" else np.dtype(self.code).itemsize

    @property
    def result_dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self.code == "bf16" else np.dtype(self.code)


_STORAGE_TYPES: dict[str, _StorageType] = {
    name: _StorageType(name, code)
    for name, code in {
        "FloatStorage": "f4",
        "DoubleStorage": "f8",
        "HalfStorage": "f2",
        "BFloat16Storage": "bf16",
        "LongStorage": "i8",
        "IntStorage": "i4",
        "ShortStorage": "i2",
        "CharStorage": "i1",
        "ByteStorage": "u1",
        "BoolStorage": "?",
        "ComplexFloatStorage": "c8",
        "ComplexDoubleStorage": "c16",
    }.items()
}


def load_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict (``torch.save(model.state_dict())``) as numpy arrays.

    Both the zip format (torch >= 1.6: ``*/data.pkl`` plus raw storages under ``*/data/<key>``)
    and the older non-zip format (a run of pickles followed by the raw storages) are read.
    Neither torch nor an unrestricted ``pickle.load`` is used: the unpickler accepts only the
    globals needed to rebuild tensors and refuses anything else (e.g. ``os.system``).

    Args:
        path: The ``.pth``/``.pt`` file.

    Returns:
        Parameter name -> a fresh, C-contiguous array with the tensor's shape and dtype
        (bfloat16 becomes float32). A ``{"state_dict": {...}}`` wrapper is unwrapped.

    Raises:
        WeightsUnavailableError: The file does not exist.
        ModelError: The file is not a readable state dict, or its pickle asks for a forbidden
            global; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: checkpoint file not found")
    if zipfile.is_zipfile(path):
        obj = _load_zip(path)
    else:
        obj = _load_legacy(path, path.read_bytes())
    return _as_state_dict(obj, path)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals and delegates storages to a loader."""

    def __init__(
        self,
        file: IO[bytes],
        source: Path,
        storage_loader: Callable[[Any], np.ndarray] | None = None,
    ) -> None:
        super().__init__(file, encoding="utf-8")
        self._source = source
        self._storage_loader = storage_loader

    def find_class(self, module: str, name: str) -> Any:
        allowed = self._allowed_globals(module, name)
        if allowed is None:
            raise ModelError(
                f"{self._source}: refusing to load this checkpoint: its pickle asks for the "
                f"global {module}.{name}, which is not needed to rebuild tensors (only "
                "collections.OrderedDict, torch._utils._rebuild_* and torch.*Storage are allowed)"
            )
        return allowed

    def _allowed_globals(self, module: str, name: str) -> Any:
        # Bound methods, a C type and slotted frozen instances: nothing a BUILD opcode can mutate.
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils":
            return {
                "_rebuild_tensor_v2": self._rebuild_tensor_v2,
                "_rebuild_tensor": self._rebuild_tensor,
                "_rebuild_parameter": self._rebuild_parameter,
                "_rebuild_parameter_with_state": self._rebuild_parameter,
            }.get(name)
        if module == "torch":
            return _STORAGE_TYPES.get(name)
        return None

    def persistent_load(self, pid: Any) -> np.ndarray:
        if self._storage_loader is None:
            raise ModelError(f"{self._source}: unexpected storage reference {pid!r} in a header")
        return self._storage_loader(pid)

    def _rebuild_tensor_v2(
        self, storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any
    ) -> np.ndarray:
        # _ignored: requires_grad, backward_hooks and (newer torch) metadata; none shape the data.
        return _strided_view(storage, offset, size, stride, self._source)

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> np.ndarray:
        return _strided_view(storage, offset, size, stride, self._source)

    def _rebuild_parameter(self, data: Any, *_ignored: Any) -> Any:
        return data


def _strided_view(storage: Any, offset: Any, size: Any, stride: Any, source: Path) -> np.ndarray:
    """Return the tensor as a strided view of its storage, after checking it stays in bounds.

    The view is copied only at the end (``_as_state_dict``), because legacy files fill their
    storages after the pickle that references them has been read.
    """
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise ModelError(f"{source}: a tensor refers to something that is not a storage")
    size, stride = _int_tuple(size, source), _int_tuple(stride, source)
    if not isinstance(offset, int) or offset < 0 or len(size) != len(stride):
        raise ModelError(f"{source}: bad tensor layout: offset={offset!r} size={size} stride={stride}")
    if all(n > 0 for n in size):
        # as_strided trusts its arguments, so a hostile layout could read outside the buffer.
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.size:
            raise ModelError(
                f"{source}: tensor of size {size} at offset {offset} with stride {stride} "
                f"runs past its storage of {storage.size} elements"
            )
    item = storage.itemsize
    base = storage[offset:] if offset <= storage.size else storage[:0]
    return as_strided(base, shape=size, strides=tuple(s * item for s in stride), writeable=False)


def _int_tuple(value: Any, source: Path) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and v >= 0 for v in value):
        raise ModelError(f"{source}: bad tensor size or stride {value!r}")
    return value


def _decode(raw: bytes, kind: _StorageType, byteorder: str, numel: int, source: Path) -> np.ndarray:
    """Turn a storage's raw bytes into a 1-D native-order array of ``numel`` elements."""
    if len(raw) != numel * kind.itemsize:
        raise ModelError(f"{source}: storage holds {len(raw)} bytes, expected {numel} x {kind.itemsize}")
    endian = "<" if byteorder == "little" else ">"
    if kind.code == "bf16":
        # bfloat16 is the top half of a float32: widen the bits and reinterpret.
        bits = np.frombuffer(raw, dtype=endian + "u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    stored = np.frombuffer(raw, dtype=np.dtype(kind.code).newbyteorder(endian))
    return stored.astype(kind.result_dtype)


def _storage_type(value: Any, source: Path) -> _StorageType:
    if not isinstance(value, _StorageType):
        raise ModelError(f"{source}: storage reference names an unknown type {value!r}")
    return value


def _load_zip(path: Path) -> Any:
    """Unpickle ``*/data.pkl`` of a zip checkpoint, reading each storage from ``*/data/<key>``."""
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _zip_prefix(archive, path)
            byteorder = _zip_byteorder(archive, prefix)
            cache: dict[str, np.ndarray] = {}

            def load_storage(pid: Any) -> np.ndarray:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                    raise ModelError(f"{path}: unexpected storage reference {pid!r}")
                _, type_value, key, _location, numel = pid
                kind = _storage_type(type_value, path)
                if not isinstance(key, str) or not isinstance(numel, int):
                    raise ModelError(f"{path}: bad storage reference {pid!r}")
                if key not in cache:  # the same storage is referenced by every view of it
                    raw = _zip_member(archive, f"{prefix}data/{key}", path)
                    cache[key] = _decode(raw, kind, byteorder, numel, path)
                return cache[key]

            with archive.open(f"{prefix}data.pkl") as handle:
                return _unpickle(_RestrictedUnpickler(handle, path, load_storage), path)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{path}: broken zip checkpoint ({exc})") from exc


def _zip_prefix(archive: zipfile.ZipFile, path: Path) -> str:
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
    pickles = [n for n in pickles if n in ("data.pkl",) or n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise ModelError(
            f"{path}: a zip checkpoint needs exactly one top-level '*/data.pkl', found {pickles}"
        )
    return pickles[0][: -len("data.pkl")]


def _zip_byteorder(archive: zipfile.ZipFile, prefix: str) -> str:
    try:
        order = archive.read(f"{prefix}byteorder").decode("ascii").strip()
    except KeyError:
        return "little"  # files from before torch wrote the record are little-endian
    return "big" if order == "big" else "little"


def _zip_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise ModelError(f"{path}: storage {name!r} is referenced but missing") from None


def _unpickle(unpickler: _RestrictedUnpickler, path: Path) -> Any:
    """Run one restricted load, turning any decoding failure into a ModelError naming the file."""
    try:
        return unpickler.load()
    except ModelError:
        raise
    except Exception as exc:  # pickle raises many types on malformed input; report them all
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({exc!r})") from exc


def _load_legacy(path: Path, data: bytes) -> Any:
    """Read the non-zip format: magic, protocol, sys info, the object, storage keys, raw storages."""
    if not data.startswith(b"\x80"):
        kind = "a tar archive (torch < 0.4)" if _is_tar(path) else "neither a zip nor a pickle"
        raise ModelError(f"{path}: not a PyTorch checkpoint this reader supports: it is {kind}")
    stream = io.BytesIO(data)
    header = [_unpickle(_RestrictedUnpickler(stream, path), path) for _ in range(3)]
    magic, protocol, sys_info = header
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL or not isinstance(sys_info, dict):
        raise ModelError(f"{path}: a pickle, but not a PyTorch checkpoint (bad magic number)")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    storages: dict[str, tuple[_StorageType, np.ndarray]] = {}
    loader = _legacy_storage_loader(storages, path)
    obj = _unpickle(_RestrictedUnpickler(stream, path, loader), path)
    keys = _unpickle(_RestrictedUnpickler(stream, path), path)
    _fill_legacy_storages(stream, keys, storages, byteorder, path)
    return obj


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _legacy_storage_loader(
    storages: dict[str, tuple[_StorageType, np.ndarray]], path: Path
) -> Callable[[Any], np.ndarray]:
    """Return a persistent_load that hands out empty buffers, filled once the pickle is read."""

    def load_storage(pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise ModelError(
                f"{path}: unsupported object reference {pid!r} (only tensors can be loaded, "
                "not whole pickled modules)"
            )
        _, type_value, key, _location, numel, view = pid
        kind = _storage_type(type_value, path)
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise ModelError(f"{path}: bad storage reference {pid!r}")
        if key not in storages:
            storages[key] = (kind, np.empty(numel, dtype=kind.result_dtype))
        known_kind, buffer = storages[key]
        if known_kind != kind or buffer.size != numel:
            raise ModelError(f"{path}: storage {key!r} is referenced with two different layouts")
        return buffer if view is None else _legacy_view(buffer, view, path)

    return load_storage


def _legacy_view(buffer: np.ndarray, view: Any, path: Path) -> np.ndarray:
    # Very old files stored storage views as (view_key, offset, size) into a root storage.
    if not (isinstance(view, tuple) and len(view) == 3):
        raise ModelError(f"{path}: bad storage view {view!r}")
    _, offset, size = view
    if not (isinstance(offset, int) and isinstance(size, int) and 0 <= offset <= offset + size):
        raise ModelError(f"{path}: bad storage view {view!r}")
    if offset + size > buffer.size:
        raise ModelError(f"{path}: storage view {view!r} runs past its storage")
    return buffer[offset : offset + size]


def _fill_legacy_storages(
    stream: io.BytesIO,
    keys: Any,
    storages: dict[str, tuple[_StorageType, np.ndarray]],
    byteorder: str,
    path: Path,
) -> None:
    """Read each storage's ``int64 numel`` + raw bytes, in the order the key list gives."""
    if not isinstance(keys, list) or set(keys) != set(storages) or len(keys) != len(storages):
        raise ModelError(f"{path}: the storage list does not match the tensors in the file")
    fmt = "<q" if byteorder == "little" else ">q"
    for key in keys:
        kind, buffer = storages[key]
        header = stream.read(8)
        if len(header) != 8 or struct.unpack(fmt, header)[0] != buffer.size:
            raise ModelError(f"{path}: storage {key!r} is truncated or has the wrong size")
        raw = stream.read(buffer.size * kind.itemsize)
        if len(raw) != buffer.size * kind.itemsize:
            raise ModelError(f"{path}: storage {key!r} is truncated (the file ends early)")
        buffer[...] = _decode(raw, kind, byteorder, buffer.size, path)


def _as_state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    """Check the unpickled object is a name -> tensor mapping and copy every tensor out."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
    result: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise ModelError(f"{path}: entry {key!r} is not a tensor ({type(value).__name__})")
        # A copy detaches the tensor from its (possibly shared) storage and makes it contiguous.
        result[key] = np.array(value, copy=True, order="C")
    return result
