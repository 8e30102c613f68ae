"""Where training runs: a tf.distribute strategy and the mixed-precision policy."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import keras
import tensorflow as tf

from fashion_core.errors import ModelError


def choose_strategy(mode: str) -> tf.distribute.Strategy:
    """Pick a ``tf.distribute`` strategy.

    Args:
        mode: ``none``: the default (one device). ``mirrored``: MirroredStrategy over the
            local GPUs, or over the logical CPU devices when there is no GPU but several
            CPU devices are configured. ``multiworker``: MultiWorkerMirroredStrategy, the
            cluster read from ``TF_CONFIG``. ``auto``: multiworker when ``TF_CONFIG`` is
            set, mirrored with two or more GPUs, else the default. On a cluster every
            worker runs ``train_run`` on its own workspace copy; the chief's run is the one
            to keep.

    Raises:
        ModelError: ``multiworker`` without a usable ``TF_CONFIG``, or an unknown mode.
    """
    if mode == "none":
        return tf.distribute.get_strategy()
    if mode == "multiworker" or (mode == "auto" and os.environ.get("TF_CONFIG")):
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if mode == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # NCCL is GPU-only; on CPUs gradients are summed on one device.
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if mode == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    raise ModelError(f"`distribute` must be one of auto, none, mirrored, multiworker. Received: {mode!r}")


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ModelError("distribute='multiworker' needs the TF_CONFIG environment variable (cluster and task).")
    try:
        spec = json.loads(raw)
        spec["cluster"], spec["task"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"TF_CONFIG is not a valid cluster spec ({exc}): {raw[:200]}") from exc


@contextlib.contextmanager
def precision_policy(mode: str) -> Iterator[bool]:
    """Use ``mixed_float16`` while training when asked (``on``) or when a GPU is present (``auto``).

    On a CPU mixed precision is slower, not faster, so ``auto`` leaves it off there. The
    previous global policy is restored afterwards. Yields whether mixed precision is on.
    """
    use = mode == "on" or (mode == "auto" and bool(tf.config.list_logical_devices("GPU")))
    previous = keras.config.dtype_policy()
    if use:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield use
    finally:
        keras.config.set_dtype_policy(previous)
