"""Tests for the torch-free, restricted PyTorch checkpoint reader."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import tarfile
import types
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fashion_core.errors import ModelError, WeightsUnavailableError
from fashion_core.modeling.efficientnet_lite import bundled_weights_path
from fashion_core.modeling.torch_checkpoint import load_torch_state_dict

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class StorageRef:
    """A storage as the writer sees it: its key, torch type name and flat data."""

    key: str
    type_name: str
    data: np.ndarray


@dataclass(frozen=True)
class TensorRef:
    """A tensor as torch pickles it: a strided view into a storage."""

    storage: StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class FakeTorch:
    """Stand-in ``torch`` / ``torch._utils`` modules so pickle emits torch's global names."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.torch = types.ModuleType("torch")
        self.utils = types.ModuleType("torch._utils")
        for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"):
            setattr(self.torch, name, type(name, (), {"__module__": "torch"}))

        def _rebuild_tensor_v2(*args: Any) -> None:  # never called: only its name is pickled
            raise AssertionError("the writer must not rebuild tensors")

        _rebuild_tensor_v2.__module__ = "torch._utils"
        _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
        self.utils._rebuild_tensor_v2 = _rebuild_tensor_v2
        self.torch._utils = self.utils
        monkeypatch.setitem(sys.modules, "torch", self.torch)
        monkeypatch.setitem(sys.modules, "torch._utils", self.utils)

    def dumps(self, obj: Any, *, legacy: bool) -> bytes:
        """Pickle ``obj`` (protocol 2) the way torch.save does, storages as persistent ids."""
        buffer = io.BytesIO()
        fake = self

        class Writer(pickle.Pickler):
            def persistent_id(self, value: Any) -> Any:
                if not isinstance(value, StorageRef):
                    return None
                kind = getattr(fake.torch, value.type_name)
                numel = value.data.size
                if legacy:
                    return ("storage", kind, value.key, "cpu", numel, None)
                return ("storage", kind, value.key, "cpu", numel)

            def reducer_override(self, value: Any) -> Any:
                if isinstance(value, TensorRef):
                    args = (value.storage, value.offset, value.size, value.stride, False, OrderedDict())
                    return (fake.utils._rebuild_tensor_v2, args)
                return NotImplemented

        Writer(buffer, protocol=2).dump(obj)
        return buffer.getvalue()


def storage_bytes(storage: StorageRef) -> bytes:
    if storage.type_name == "BFloat16Storage":  # keep the top 16 bits of each float32
        return (storage.data.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    return storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes()


def write_zip(path: Path, pickled: bytes, storages: list[StorageRef]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage_bytes(storage))
    return path


def write_legacy(path: Path, pickled: bytes, storages: list[StorageRef]) -> Path:
    header = b"".join(
        pickle.dumps(v, protocol=2)
        for v in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True})
    )
    body = [header, pickled, pickle.dumps([s.key for s in storages], protocol=2)]
    for storage in storages:
        body += [struct.pack("<q", storage.data.size), storage_bytes(storage)]
    path.write_bytes(b"".join(body))
    return path


def sample_state() -> tuple[OrderedDict[str, TensorRef], list[StorageRef], dict[str, np.ndarray]]:
    """Tensors sharing storages, with offsets and non-contiguous strides, and what they hold."""
    rng = np.random.default_rng(0)
    flat = StorageRef("0", "FloatStorage", rng.normal(size=12).astype(np.float32))
    half = StorageRef("1", "HalfStorage", rng.normal(size=6).astype(np.float16))
    bf16 = StorageRef("2", "BFloat16Storage", np.array([1.0, -2.5, 0.15625], dtype=np.float32))
    count = StorageRef("3", "LongStorage", np.array([7, 123456789012], dtype=np.int64))
    grid = flat.data.reshape(3, 4)
    state = OrderedDict(
        [
            ("conv.weight", TensorRef(flat, 0, (3, 4), (4, 1))),
            ("conv.weight_t", TensorRef(flat, 0, (4, 3), (1, 4))),
            ("every_other", TensorRef(flat, 5, (3,), (2,))),
            ("half", TensorRef(half, 1, (2, 2), (2, 1))),
            ("bf16", TensorRef(bf16, 0, (3,), (1,))),
            ("bn.num_batches_tracked", TensorRef(count, 1, (), ())),
        ]
    )
    expected = {
        "conv.weight": grid,
        "conv.weight_t": grid.T,
        "every_other": flat.data[5:11:2],
        "half": half.data[1:5].reshape(2, 2),
        "bf16": bf16.data,
        "bn.num_batches_tracked": np.array(123456789012, dtype=np.int64),
    }
    return state, [flat, half, bf16, count], expected


@pytest.mark.parametrize("writer", [write_zip, write_legacy], ids=["zip", "legacy"])
def test_round_trips_shapes_values_and_dtypes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: Any
) -> None:
    fake = FakeTorch(monkeypatch)
    state, storages, expected = sample_state()
    path = writer(tmp_path / "tiny.pth", fake.dumps(state, legacy=writer is write_legacy), storages)
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need any torch module

    loaded = load_torch_state_dict(path)

    assert list(loaded) == list(expected)
    for name, want in expected.items():
        got = loaded[name]
        assert got.shape == want.shape, name
        assert got.dtype == (np.float32 if name == "bf16" else want.dtype), name
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert got.flags.c_contiguous and got.flags.writeable, name


def test_tensors_are_copies_not_views_of_a_shared_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTorch(monkeypatch)
    state, storages, _ = sample_state()
    loaded = load_torch_state_dict(write_zip(tmp_path / "t.pth", fake.dumps(state, legacy=False), storages))
    before = loaded["conv.weight_t"].copy()
    loaded["conv.weight"][:] = 0.0
    np.testing.assert_array_equal(loaded["conv.weight_t"], before)


class Evil:
    """Pickles as a call to os.system, as a booby-trapped checkpoint would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", [write_zip, write_legacy], ids=["zip", "legacy"])
def test_refuses_a_pickle_that_calls_os_system(tmp_path: Path, writer: Any) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(OrderedDict(x=Evil(marker)), protocol=2)
    path = writer(tmp_path / "evil.pth", payload, [])

    with pytest.raises(ModelError) as caught:
        load_torch_state_dict(path)

    message = str(caught.value)
    assert "evil.pth" in message and "system" in message and "refusing" in message
    assert not marker.exists()


def test_refuses_other_callables_such_as_builtins_eval(tmp_path: Path) -> None:
    # GLOBAL builtins.eval, then REDUCE with one string argument.
    payload = b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."
    with pytest.raises(ModelError, match=r"builtins\.eval"):
        load_torch_state_dict(write_zip(tmp_path / "eval.pth", payload, []))


def test_refuses_a_stride_that_would_read_past_the_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTorch(monkeypatch)
    storage = StorageRef("0", "FloatStorage", np.arange(4, dtype=np.float32))
    state = OrderedDict(w=TensorRef(storage, 1, (2, 2), (2, 1)))  # last index 1 + 2 + 1 = 4
    path = write_zip(tmp_path / "oob.pth", fake.dumps(state, legacy=False), [storage])
    with pytest.raises(ModelError, match="runs past its storage"):
        load_torch_state_dict(path)


def test_refuses_a_missing_storage_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTorch(monkeypatch)
    storage = StorageRef("0", "FloatStorage", np.arange(4, dtype=np.float32))
    pickled = fake.dumps(OrderedDict(w=TensorRef(storage, 0, (4,), (1,))), legacy=False)
    with pytest.raises(ModelError, match="missing"):
        load_torch_state_dict(write_zip(tmp_path / "gap.pth", pickled, []))


def test_unreadable_files_fail_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_torch_state_dict(tmp_path / "absent.pth")

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"GIF89a not a checkpoint at all")
    with pytest.raises(ModelError, match="junk.pth.*neither a zip nor a pickle"):
        load_torch_state_dict(junk)

    old = tmp_path / "old.pth"
    with tarfile.open(old, "w") as archive:
        archive.add(junk, arcname="storages")
    with pytest.raises(ModelError, match="tar archive"):
        load_torch_state_dict(old)


def test_truncated_legacy_file_is_reported(tmp_path: Path) -> None:
    data = bundled_weights_path("lite0").read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelError, match="cut.pth.*truncated"):
        load_torch_state_dict(cut)


def test_loads_the_bundled_efficientnet_lite0_checkpoint() -> None:
    state = load_torch_state_dict(bundled_weights_path("lite0"))

    assert len(state) == 296
    weights = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(weights) == 296 - 49  # 49 BatchNorms, each with one counter
    assert sum(v.size for v in weights.values()) == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert all(np.isfinite(v).all() for v in weights.values())
    assert (state["_bn1.running_var"] > 0).all()
