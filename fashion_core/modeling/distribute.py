"""Where training runs: the device plan, its tf.distribute strategy and the mixed-precision policy.

One pure function (``plan_devices``) decides from a list of device names, so the line the Train
page and ``train`` print and the strategy a run builds cannot drift apart, and the GPU-only
branches are tested with a faked device list. TensorFlow is imported inside the functions that
need it: the Train page describes the devices without loading it (``probe_gpus``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_core.errors import ModelError

if TYPE_CHECKING:
    import tensorflow as tf

MODES = ("auto", "none", "mirrored", "multiworker")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the NVIDIA driver sees
GPU_SETUP_HINT = "see the README, 'GPU set-up' (make run GPU=1, or pip install '.[gpu]')"


@dataclass(frozen=True)
class DevicePlan:
    """The devices a run uses and how.

    Attributes:
        strategy: ``default`` (one device), ``mirrored`` (MirroredStrategy over ``devices``)
            or ``multiworker`` (the cluster in ``TF_CONFIG``).
        devices: Device names the run's replicas sit on (one for ``default``).
        on_gpu: Whether those are GPUs.
        mixed_precision: Whether training computes in float16 (kept float32 variables).
    """

    strategy: str
    devices: tuple[str, ...]
    on_gpu: bool
    mixed_precision: bool


def plan_devices(
    gpus: Sequence[str],
    *,
    distribute: str = "auto",
    mixed_precision: str = "auto",
    cpus: Sequence[str] = ("CPU:0",),
    cluster: bool = False,
) -> DevicePlan:
    """Decide where a run trains from the local device names (pure: tests fake the lists).

    Args:
        gpus: The local GPUs TensorFlow can use.
        distribute: ``none``: one device (the first GPU, else the CPU). ``mirrored``:
            MirroredStrategy over every GPU, or over the CPU devices when there is none.
            ``multiworker``: the cluster of ``TF_CONFIG``. ``auto``: multiworker when
            ``cluster``, mirrored with two or more GPUs, else one device.
        mixed_precision: ``on``, ``off``, or ``auto`` (on exactly when the run is on GPUs: on a
            CPU float16 is slower, not faster).
        cpus: The local CPU devices (several only when configured as logical devices).
        cluster: Whether ``TF_CONFIG`` is set.
    """
    _check_mode(distribute)
    on_gpu = bool(gpus)
    mixed = mixed_precision == "on" or (mixed_precision == "auto" and on_gpu)
    if distribute == "multiworker" or (distribute == "auto" and cluster):
        return DevicePlan("multiworker", tuple(gpus or cpus[:1]), on_gpu, mixed)
    if distribute == "mirrored" or (distribute == "auto" and len(gpus) > 1):
        return DevicePlan("mirrored", tuple(gpus or cpus), on_gpu, mixed)
    return DevicePlan("default", tuple(gpus[:1] or cpus[:1]), on_gpu, mixed)


def describe_plan(plan: DevicePlan, *, note: str = "") -> str:
    """One line for people: which devices a run uses (and, on the CPU, why)."""
    names = ", ".join(_short(d) for d in plan.devices)
    precision = "mixed precision (float16)" if plan.mixed_precision else "float32"
    if plan.strategy == "multiworker":
        return f"Training on the cluster in TF_CONFIG (MultiWorkerMirroredStrategy; here: {names}), {precision}."
    if plan.on_gpu and plan.strategy == "mirrored":
        return (f"Training on {len(plan.devices)} GPUs ({names}) through MirroredStrategy, {precision};"
                f" quick mode trains the heads on {_short(plan.devices[0])}.")
    if plan.on_gpu:
        return f"Training on the GPU ({names}), {precision}."
    where = f"{len(plan.devices)} CPU devices ({names}) through MirroredStrategy" if len(plan.devices) > 1 else "the CPU"
    return f"Training on {where}, {precision}: {note or 'no GPU found'}."


def describe_devices(
    gpus: Sequence[str] | None = None, *, distribute: str = "auto", mixed_precision: str = "auto"
) -> str:
    """Which devices a run with these options uses, in one line.

    Args:
        gpus: The GPUs TensorFlow sees (``tensorflow_gpus()``); ``None`` probes without
            loading TensorFlow (``probe_gpus()``), as the Train page does.
        distribute: The run's ``distribute`` option.
        mixed_precision: The run's ``mixed_precision`` option.
    """
    note = ""
    if gpus is None:
        gpus, note = probe_gpus()
    cluster = bool(os.environ.get("TF_CONFIG"))
    plan = plan_devices(gpus, distribute=distribute, mixed_precision=mixed_precision, cluster=cluster)
    return describe_plan(plan, note=note)


def probe_gpus(driver_dir: Path = NVIDIA_GPUS) -> tuple[list[str], str]:
    """The GPUs a run could use, found without importing TensorFlow, and why there are none.

    Counts the GPUs the NVIDIA driver lists, and only when a CUDA build of TensorFlow is
    installed (``tensorflow-cpu`` never uses them). Returns ``(gpu names, note)``.
    """
    found = sorted(driver_dir.iterdir()) if driver_dir.is_dir() else []
    if not found:
        return [], "no GPU found"
    if not _cuda_tensorflow_installed():
        return [], f"{len(found)} NVIDIA GPU(s) found, but the installed TensorFlow is the CPU build; {GPU_SETUP_HINT}"
    return [f"GPU:{i}" for i in range(len(found))], ""


def tensorflow_gpus() -> list[str]:
    """The GPUs TensorFlow itself sees (loads TensorFlow; does not claim GPU memory)."""
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def choose_strategy(mode: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy of ``plan_devices`` for this machine's devices.

    On a cluster every worker runs ``train_run`` on its own workspace copy; the chief's run
    is the one to keep.

    Raises:
        ModelError: ``multiworker`` without a usable ``TF_CONFIG``, or an unknown mode.
    """
    import tensorflow as tf

    _check_mode(mode)
    if mode == "multiworker" or (mode == "auto" and os.environ.get("TF_CONFIG")):
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    plan = plan_devices(gpus, distribute=mode, cpus=cpus)
    if plan.strategy != "mirrored":
        return tf.distribute.get_strategy()
    # NCCL all-reduce is GPU-only; on CPU devices gradients are summed on one device.
    ops = None if plan.on_gpu else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(list(plan.devices), cross_device_ops=ops)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ModelError(f"`distribute` must be one of {', '.join(MODES)}. Received: {mode!r}")


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

    The previous global policy is restored afterwards. Yields whether mixed precision is on.
    """
    import keras
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    use = plan_devices(gpus, distribute="none", mixed_precision=mode).mixed_precision
    previous = keras.config.dtype_policy()
    if use:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield use
    finally:
        keras.config.set_dtype_policy(previous)


def _cuda_tensorflow_installed() -> bool:
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        return name == "tensorflow"  # the `tensorflow` wheel carries CUDA support on Linux
    return False


def _short(device: str) -> str:
    """``/physical_device:GPU:0`` or ``/job:localhost/.../device:GPU:0`` -> ``GPU:0``."""
    parts = device.split(":")
    return ":".join(parts[-2:]) if len(parts) >= 2 else device
