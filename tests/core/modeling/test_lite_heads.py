"""A quick run's serving heads file: written atomically, read back exactly, refused clearly when damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fashion_core.errors import ModelError
from fashion_core.modeling.lite_heads import DenseHead, read_heads, write_heads


def _heads() -> dict[str, DenseHead]:
    rng = np.random.default_rng(0)
    return {"sleeve": DenseHead(rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32), False),
            "style": DenseHead(rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32), True)}


def test_heads_round_trip_in_order_and_answer_like_softmax_and_sigmoid(tmp_path: Path) -> None:
    path = tmp_path / "serving-heads.npz"
    write_heads(path, _heads())
    back = read_heads(path)
    assert list(back) == ["sleeve", "style"] and [h.multi for h in back.values()] == [False, True]
    for key, head in _heads().items():
        np.testing.assert_array_equal(back[key].kernel, head.kernel)
        np.testing.assert_array_equal(back[key].bias, head.bias)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    logits = x @ back["sleeve"].kernel + back["sleeve"].bias
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(back["sleeve"](x), softmax, rtol=1e-5)
    np.testing.assert_allclose(back["sleeve"](x).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(back["style"](x), 1 / (1 + np.exp(-(x @ back["style"].kernel + back["style"].bias))),
                               rtol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing left of the atomic write


def test_a_damaged_or_foreign_heads_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "serving-heads.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"Cannot read the serving heads .*serving-heads\.npz"):
        read_heads(path)
    np.savez(path, format=np.array(1), keys=np.array(["a"]), kernel_0=np.zeros((4, 3)), bias_0=np.zeros(2),
             multi_0=np.array(False))
    with pytest.raises(ModelError, match="head 'a' has a kernel"):
        read_heads(path)
    np.savez(path, format=np.array(9), keys=np.array(["a"]))
    with pytest.raises(ModelError, match="heads format 9"):
        read_heads(path)
