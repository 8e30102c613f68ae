"""Tests for the device plan: GPU-only branches run here with the device list faked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from fashion_core.errors import ModelError
from fashion_core.modeling import describe_devices, distribute
from fashion_core.modeling.distribute import plan_devices, probe_gpus

REPO = Path(__file__).resolve().parents[3]
TWO_GPUS = ["/physical_device:GPU:0", "/physical_device:GPU:1"]


@pytest.mark.parametrize(
    ("gpus", "mode", "strategy", "devices", "mixed"),
    [
        ([], "auto", "default", ("CPU:0",), False),
        (TWO_GPUS[:1], "auto", "default", ("/physical_device:GPU:0",), True),
        (TWO_GPUS, "auto", "mirrored", tuple(TWO_GPUS), True),
        (TWO_GPUS, "none", "default", ("/physical_device:GPU:0",), True),
        (TWO_GPUS[:1], "mirrored", "mirrored", ("/physical_device:GPU:0",), True),
        ([], "mirrored", "mirrored", ("CPU:0",), False),
    ],
)
def test_the_plan_uses_every_gpu_with_mixed_precision_and_falls_back_to_the_cpu(
    gpus: list[str], mode: str, strategy: str, devices: tuple[str, ...], mixed: bool
) -> None:
    plan = plan_devices(gpus, distribute=mode)

    assert (plan.strategy, plan.devices, plan.on_gpu, plan.mixed_precision) == (strategy, devices, bool(gpus), mixed)


def test_mixed_precision_follows_the_option_and_a_cluster_means_multiworker() -> None:
    assert plan_devices(TWO_GPUS, mixed_precision="off").mixed_precision is False
    assert plan_devices([], mixed_precision="on").mixed_precision is True
    assert plan_devices(TWO_GPUS, cluster=True).strategy == "multiworker"
    assert plan_devices(TWO_GPUS, distribute="none", cluster=True).strategy == "default"
    with pytest.raises(ModelError, match="Received: 'cloud'"):
        plan_devices([], distribute="cloud")


def test_the_description_names_the_devices_and_says_why_a_run_is_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)

    two = describe_devices(TWO_GPUS)
    one = describe_devices(TWO_GPUS[:1], mixed_precision="off")
    cpu = describe_devices([])

    assert two.startswith("Training on 2 GPUs (GPU:0, GPU:1) through MirroredStrategy, mixed precision")
    assert "quick mode trains the heads on GPU:0" in two
    assert one == "Training on the GPU (GPU:0), float32."
    assert cpu == "Training on the CPU, float32: no GPU found."


def test_the_probe_counts_the_driver_s_gpus_only_with_a_cuda_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(2):
        (tmp_path / f"0000:0{i}:00.0").mkdir()
    monkeypatch.setattr(distribute, "_cuda_tensorflow_installed", lambda: True)
    assert probe_gpus(tmp_path) == (["GPU:0", "GPU:1"], "")
    assert probe_gpus(tmp_path / "missing") == ([], "no GPU found")

    monkeypatch.setattr(distribute, "_cuda_tensorflow_installed", lambda: False)
    gpus, note = probe_gpus(tmp_path)
    assert gpus == [] and "2 NVIDIA GPU(s) found" in note and "GPU set-up" in note


def test_describing_devices_for_the_train_page_does_not_load_tensorflow() -> None:
    code = ("import sys; from fashion_core.modeling.distribute import describe_devices; describe_devices();"
            " assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_choose_strategy_mirrors_over_every_gpu_and_precision_turns_to_float16(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    fake = {"GPU": [SimpleNamespace(name=f"/device:GPU:{i}") for i in range(2)],
            "CPU": [SimpleNamespace(name="/device:CPU:0")]}
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: fake[kind])
    built: list[tuple[list[str], object]] = []
    monkeypatch.setattr(tf.distribute, "MirroredStrategy",
                        lambda devices, cross_device_ops=None: built.append((devices, cross_device_ops)) or "mirrored")

    assert distribute.choose_strategy("auto") == "mirrored"
    assert built == [(["/device:GPU:0", "/device:GPU:1"], None)]  # NCCL's default all-reduce on GPUs
    before = keras.config.dtype_policy().name
    with distribute.precision_policy("auto") as mixed:
        assert mixed and keras.config.dtype_policy().name == "mixed_float16"
    assert keras.config.dtype_policy().name == before
