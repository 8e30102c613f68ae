"""Tests for tf.distribute: a mirrored run over two logical CPU devices, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.errors import ModelError

REPO = Path(__file__).resolve().parents[3]

# Logical devices must be configured before TensorFlow initialises its runtime, which the test
# process has long done; so the run happens in a new interpreter.
SCRIPT = """
import json, sys
from pathlib import Path
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from fashion_core.modeling.config import TrainConfig
from fashion_core.modeling.training import default_run_dir, train_run
from fashion_core.runs.files import new_run_id, register_run
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import make_dataset

tmp = Path(sys.argv[1])
ws = Workspace(tmp / "ws").ensure()
store = LabelStore.open(ws)
make_dataset(store, tmp / "data", n=24, categories=("colour", "size"))
config = TrainConfig(dataset="tiny", backbone="mobilenet_v3_small", weights="none", image_size=32,
                     batch_size=8, epochs=2, schedule="heads", distribute="mirrored", val_fraction=0.25)
run_dir = default_run_dir(ws, new_run_id())
register_run(store, run_dir, "tiny", config.to_dict())
metrics = train_run(store, ws, config, run_dir)
print(json.dumps({"devices": len(tf.config.list_logical_devices("CPU")), "metrics": metrics}))
"""


@pytest.mark.slow
def test_a_mirrored_run_over_two_logical_cpus_completes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert result["devices"] == 2
    assert metrics["strategy"] == "MirroredStrategy" and metrics["replicas"] == 2
    assert metrics["state"] == "done" and metrics["epochs_run"] == 2
    assert set(metrics["val_accuracy"]) == {"colour", "size"} and metrics["model_sha256"]


def test_multiworker_without_a_cluster_spec_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fashion_core.modeling.distribute import choose_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ModelError, match="TF_CONFIG"):
        choose_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ModelError, match="not a valid cluster spec"):
        choose_strategy("multiworker")
