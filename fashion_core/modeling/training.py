"""One training run end to end: labels -> split -> pipeline -> model -> fit -> run files."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from fashion_core.errors import ModelError, SchemaError
from fashion_core.faults import fault_point
from fashion_core.labels.view import label_view
from fashion_core.modeling import model as modelling
from fashion_core.modeling.backbones import build_backbone, weights_fingerprint
from fashion_core.modeling.callbacks import (
    MONITOR,
    BestWeights,
    ProgressCallback,
    RecordCheckpoint,
    RunCancelled,
)
from fashion_core.modeling.config import TrainConfig
from fashion_core.modeling.data import image_dataset
from fashion_core.modeling.distribute import choose_strategy, precision_policy
from fashion_core.modeling.embeddings import EmbeddingCache, compute_embeddings
from fashion_core.modeling.head_fit import fit_heads
from fashion_core.modeling.partial_load import whole_load
from fashion_core.modeling.report import RunLog, build_metrics, write_label_map
from fashion_core.modeling.table import LabelTable, build_label_table, stratified_split, write_split
from fashion_core.runs.files import (
    RunDir,
    get_run,
    record_run_files,
    sha256_file,
    update_run,
    verified_model_path,
    write_json_atomic,
)
from fashion_core.store import LabelStore, utc_now
from fashion_core.workspace import Workspace

MEMORY_CACHE_LIMIT = 1 << 30  # resized pixels above this go to a file cache in the run folder
EpochHook = Callable[[dict[str, Any]], None]


def train_run(store: LabelStore, workspace: Workspace, config: TrainConfig, run_dir: RunDir, *,
              on_epoch: EpochHook | None = None, before_done: Callable[[], None] | None = None) -> dict[str, Any]:
    """Train one run and write its files; the function a background job runs.

    Writes ``schema.json``, ``label_map.json``, ``split.csv``, live ``status.json``,
    ``history.csv``, ``metrics.json``, ``log.txt`` and the best checkpoint ``model.keras``,
    whose SHA-256 goes to the run's row (with those of schema.json and label_map.json when it
    ends), as does the label map it resolved. The run ends ``done``, ``cancelled`` (cancel flag
    or Ctrl-C: the best checkpoint so far is kept) or ``failed`` (the error is recorded
    and re-raised).

    Args:
        store: The label store; the run must be registered (``runs.register_run``).
        workspace: The workspace (its ``embeddings/`` folder serves quick mode).
        config: The training configuration.
        run_dir: The run folder.
        on_epoch: Optional hook called with each epoch's history row.
        before_done: Optional step run when the run is about to end ``done``: its model and files
            are recorded (it can be loaded), the store still says running (``analysis.trainer``
            calibrates here, so a run is never seen done without its calibration).

    Returns:
        The metrics written to ``metrics.json``.
    """
    trainer = _Trainer(store, workspace, config, run_dir, on_epoch, before_done)
    try:
        return trainer.run()
    except RunCancelled:
        return trainer.finish("cancelled")
    except KeyboardInterrupt:
        trainer.finish("cancelled", serving=False)  # the user wants out now: prediction converts later
        raise
    except BaseException as exc:
        trainer.fail(exc)
        raise
    finally:
        trainer.cleanup()


def load_run_model(store: LabelStore, run_id: str, *, compile: bool = False) -> keras.Model:
    """Load a run's model, only if its bytes still match the SHA-256 recorded at save time.

    The file is hashed and loaded from one private copy, so it cannot be swapped between
    the check and the load; ``safe_mode`` stays on.

    Raises:
        ModelError: No recorded model, file missing or changed, or not loadable.
    """
    path = verified_model_path(store, run_id)
    expected = get_run(store, run_id).model_sha256
    with tempfile.TemporaryDirectory(prefix="fashion-model-") as tmp:
        copy = Path(tmp) / "model.keras"
        shutil.copyfile(path, copy)
        if sha256_file(copy) != expected:
            raise ModelError(f"Model file {path} changed while being loaded; refusing it.")
        fix = "Train the run again with this version of the studio (and Keras)"
        with whole_load(f"The model of run {run_id} ({path})", fix):
            try:
                return keras.saving.load_model(copy, custom_objects=modelling.CUSTOM_OBJECTS, compile=compile,
                                               safe_mode=True)
            except (ValueError, TypeError, OSError) as exc:
                raise ModelError(f"Cannot load the model of run {run_id}: {exc}") from exc


class _Trainer:
    """The state of one run while it trains (kept together so cancel and failure can finish it)."""

    def __init__(self, store: LabelStore, workspace: Workspace, config: TrainConfig, run_dir: RunDir,
                 on_epoch: EpochHook | None, before_done: Callable[[], None] | None = None) -> None:
        self.store, self.workspace, self.config, self.run_dir = store, workspace, config, run_dir
        self.on_epoch, self.before_done = on_epoch, before_done
        self.log = RunLog(run_dir.log)
        self.started = time.perf_counter()
        self.started_at = utc_now()
        self.facts: dict[str, Any] = {"state": "running"}
        self.progress: ProgressCallback | None = None
        self.table: LabelTable | None = None
        self.is_val: np.ndarray | None = None
        self.save_best: Callable[[], None] = lambda: None
        self._cleanup: list[Path] = []
        self._marked_running = False

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.config
        self._status("preparing", "reading labels")
        keras.utils.set_random_seed(cfg.seed)
        self._prepare_data()
        strategy = choose_strategy(cfg.distribute)
        self.facts.update(strategy=type(strategy).__name__, replicas=int(strategy.num_replicas_in_sync))
        with precision_policy(cfg.mixed_precision) as mixed:
            self.facts["mixed_precision"] = mixed
            self.log.write(f"strategy {self.facts['strategy']} x{self.facts['replicas']}, mixed precision {mixed}")
            if cfg.quick:
                self._train_quick()
            else:
                self._train_full(strategy)
        return self.finish("done")

    def _prepare_data(self) -> None:
        cfg = self.config
        info = self.store.dataset(cfg.dataset)
        view = label_view(self.store, cfg.dataset, cfg.labels)
        self.table = build_label_table(view, info.images_root, cfg.categories)
        self.facts["map"] = {"name": view.map_name, "version": view.map_version}
        if view.map_name:  # the map this run resolved (its config may say "the active map"): kept while runs use it
            update_run(self.store, self.run_dir.run_id, map_name=view.map_name)
        write_json_atomic(self.run_dir.schema, view.schema.with_categories([h.category for h in self.table.heads]).to_dict())
        write_label_map(self.store, self.run_dir.label_map, view.map_name, view.map_version)
        self.is_val = stratified_split(self.table.frame["stratum"].tolist(), cfg.val_fraction, cfg.seed)
        write_split(self.run_dir.split, self.table, self.is_val)
        if not self.is_val.any() or self.is_val.all():
            raise SchemaError(
                f"Too few labelled images ({len(self.table)}) for a train/validation split with"
                f" val_fraction={cfg.val_fraction}; label more images or raise val_fraction."
            )
        for p in self.table.problems[:20]:
            self.log.write(f"skipped {p.path} ({p.category}): {p.reason}")
        self.log.write(f"{len(self.table)} images: {int((~self.is_val).sum())} train, {int(self.is_val.sum())} val;"
                       f" heads {[h.name for h in self.table.heads]}")

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        return np.flatnonzero(~self.is_val), np.flatnonzero(self.is_val)

    def _losses(self) -> dict[str, Any]:
        train, _ = self._rows()
        losses, used = modelling.make_losses(self.table.heads, self.table.value_counts(train),
                                             self.table.labelled_counts(train), self.config.imbalance)
        self.facts["class_weights"] = used
        return losses

    def _progress(self) -> ProgressCallback:
        _, val = self._rows()
        labelled = self.table.labelled_counts(val)
        val_heads = [h for h in self.table.heads if labelled[h.key] > 0]
        self.progress = ProgressCallback(self.run_dir, self.table.heads, val_heads=val_heads,
                                         total_epochs=self.config.total_epochs, on_epoch=self.on_epoch)
        return self.progress

    def _plateau_callbacks(self) -> list[keras.callbacks.Callback]:
        cfg, out = self.config, []
        if cfg.early_stopping_patience:
            out.append(keras.callbacks.EarlyStopping(MONITOR, mode="max", patience=cfg.early_stopping_patience))
        if cfg.reduce_lr_patience:
            out.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.2, patience=cfg.reduce_lr_patience,
                                                         min_lr=1e-6))
        return out

    # -- full mode: images through the whole model ------------------------------------------

    def _train_full(self, strategy: tf.distribute.Strategy) -> None:
        cfg, table = self.config, self.table
        train, val = self._rows()
        self._status("building", f"building {cfg.backbone} ({cfg.weights})")
        with strategy.scope():
            backbone = build_backbone(cfg.backbone, weights=cfg.weights, image_size=cfg.image_size)
            model = modelling.build_model(backbone, table.heads, dropout=cfg.dropout)
        cache_train, cache_val = self._cache_targets(len(table))
        train_ds = image_dataset([table.paths[i] for i in train], table.targets(train), image_size=cfg.image_size,
                                 batch_size=cfg.batch_size, training=True, augmentation=cfg.effective_augmentation,
                                 cache=cache_train, seed=cfg.seed)
        val_ds = image_dataset([table.paths[i] for i in val], table.targets(val), image_size=cfg.image_size,
                               batch_size=cfg.batch_size, training=False, cache=cache_val)
        losses = self._losses()
        progress = self._progress()
        checkpoint = keras.callbacks.ModelCheckpoint(str(self.run_dir.model), monitor=MONITOR, mode="max",
                                                     save_best_only=True)
        callbacks = [progress, checkpoint, RecordCheckpoint(self.run_dir.model, self._record_model),
                     *self._plateau_callbacks()]
        done = 0
        for phase, epochs, lr, trainable, share in self._phases():
            progress.phase = phase
            self.log.write(f"phase {phase}: {epochs} epochs at learning rate {lr:g}")
            with strategy.scope():
                modelling.set_backbone_trainable(model, trainable, share)
                modelling.compile_model(model, table.heads, losses, cfg.imbalance, lr)
            # The training set repeated with a step count keeps one tf.data iterator for the phase:
            # a fresh iterator per epoch stalled the first batch of many epochs for ~10 s here.
            # Validation stays finite: Keras makes a new iterator for every evaluation anyway, and
            # dropping a repeated one mid-read blocked for ~15 s in about half the epochs.
            model.fit(train_ds.repeat(), steps_per_epoch=-(-len(train) // cfg.batch_size),
                      validation_data=val_ds, shuffle=False,  # the dataset shuffles; Keras would warn
                      epochs=done + epochs, initial_epoch=done, callbacks=callbacks, verbose=0)
            done = len(progress.rows)

    def _phases(self) -> Iterator[tuple[str, int, float, bool, float]]:
        """(phase, epochs, learning rate, backbone trainable, share of its layers unfrozen)."""
        cfg = self.config
        if cfg.effective_schedule == "finetune":
            yield "finetune", cfg.epochs, cfg.learning_rate, True, 1.0
            return
        yield "heads", cfg.epochs, cfg.learning_rate, False, 0.0
        if cfg.effective_schedule == "heads_then_finetune" and cfg.finetune_epochs:
            yield "finetune", cfg.finetune_epochs, cfg.learning_rate * cfg.finetune_lr_factor, True, cfg.finetune_layers

    def _cache_targets(self, n_images: int) -> tuple[str | Path, str | Path]:
        cfg = self.config
        mode = cfg.cache
        if mode == "auto":
            mode = "memory" if n_images * cfg.image_size**2 * 3 <= MEMORY_CACHE_LIMIT else "file"
        if mode == "memory":
            return "memory", "memory"
        folder = self.run_dir.path / "cache"
        self._cleanup.append(folder)
        return folder / "train", folder / "val"

    # -- quick mode: heads on cached features -----------------------------------------------

    def _train_quick(self) -> None:
        cfg, table = self.config, self.table
        train, val = self._rows()
        self._status("building", f"building {cfg.backbone} ({cfg.weights})")
        backbone = build_backbone(cfg.backbone, weights=cfg.weights, image_size=cfg.image_size)
        backbone.trainable = False
        features = self._embeddings(backbone)
        # The heads are small: one device trains them in seconds (no distribution strategy).
        heads = modelling.build_head_model(features.shape[1], table.heads, dropout=cfg.dropout)
        progress = self._progress()
        progress.phase = "heads"
        best = BestWeights()

        def save_best() -> None:
            if best.weights is None:
                return
            heads.set_weights(best.weights)
            modelling.assemble_model(backbone, heads, table.heads).save(self.run_dir.model)
            self._record_model(self.run_dir.model)

        self.save_best = save_best
        fit_heads(heads, table.heads, self._losses(), modelling.head_loss_weights(table.heads, cfg.imbalance),
                  (features[train], table.targets(train)), (features[val], table.targets(val)),
                  epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                  callbacks=[progress, best, *self._plateau_callbacks()], seed=cfg.seed)
        self.save_best()
        self.save_best = lambda: None

    def _embeddings(self, backbone: keras.Model) -> np.ndarray:
        cfg = self.config
        cache = EmbeddingCache(self.workspace.embeddings_dir)
        self._status("embeddings", "computing backbone features (cached per image)")

        def on_batch(done: int, total: int) -> None:
            if self.run_dir.cancel_requested():
                raise RunCancelled(f"run {self.run_dir.run_id} cancelled")
            self.run_dir.write_status(phase="embeddings", batch=done, batches=total,
                                      message=f"backbone features: batch {done}/{total}")

        try:
            features, stats = compute_embeddings(
                backbone, self.table.paths, cache, backbone_name=cfg.backbone,
                weights_id=weights_fingerprint(backbone), image_size=cfg.image_size,
                batch_size=cfg.batch_size, on_batch=on_batch)
        finally:
            cache.close()
        self.facts["embeddings"] = stats.to_dict()
        self.log.write(f"embeddings: {stats.hits} cached, {stats.misses} computed in {stats.seconds:.1f}s")
        return features

    # -- ending -------------------------------------------------------------------------------

    def _record_model(self, path: Path) -> None:
        digest = sha256_file(path)
        self.facts["model_sha256"] = digest
        update_run(self.store, self.run_dir.run_id, model_sha256=digest)

    def _status(self, phase: str, message: str) -> None:
        if not self._marked_running:
            update_run(self.store, self.run_dir.run_id, status="running")
            self._marked_running = True
        self.run_dir.write_status(state="running", phase=phase, message=message)
        self.log.write(message)

    def finish(self, state: str, *, serving: bool = True) -> dict[str, Any]:
        """Write metrics, record the model hash, write the serving model and end the run in ``state``."""
        if state == "cancelled":
            with contextlib.suppress(Exception):
                self.save_best()  # quick mode: the best heads so far become the model
        self.facts["state"] = state
        metrics = build_metrics(self.config, self.table, self.is_val, self.progress, self.facts,
                                seconds=time.perf_counter() - self.started, started_at=self.started_at)
        write_json_atomic(self.run_dir.metrics, metrics)
        if serving and self.facts.get("model_sha256"):  # before "done": a finished run serves at once
            self._write_serving_model()
        fault_point("train:before-finish")  # model and metrics on disk, the store still says running
        if state == "done" and self.before_done is not None:
            update_run(self.store, self.run_dir.run_id, model_sha256=self.facts.get("model_sha256"))
            record_run_files(self.store, self.run_dir.run_id)  # loadable now, still running
            self.run_dir.write_status(state="running", phase="calibrating", message="calibrating the model")
            self.before_done()
        update_run(self.store, self.run_dir.run_id, status=state, metrics=metrics,
                   model_sha256=self.facts.get("model_sha256"))
        record_run_files(self.store, self.run_dir.run_id)  # model, schema, label map: what its answers depend on
        message = f"{state}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.get("val_accuracy", {}).items())
        self.run_dir.write_status(state=state, phase=state, message=message, eta_seconds=0, finished_at=utc_now())
        self.log.write(message)
        return metrics

    def _write_serving_model(self) -> None:
        """The model prediction runs without TensorFlow (checked against this one); if it cannot be
        written the run is still done: prediction then converts it, or answers in TensorFlow."""
        from fashion_core.modeling.serving_model import write_serving_model

        self.run_dir.write_status(phase="serving", message="converting the model for fast prediction")
        started = time.perf_counter()
        try:
            model = load_run_model(self.store, self.run_dir.run_id)  # the best checkpoint, as it will be served
            # quick mode: the pretrained backbone is shared by every quick run, converted once
            shared = self.workspace.embeddings_dir / "serving" if self.config.quick else None
            check = write_serving_model(self.store, self.run_dir.run_id, model, backbone_cache=shared)
            self.log.write(f"serving model written in {time.perf_counter() - started:.1f}s ({check['parts']};"
                           f" checked on {check['images']} images: max difference {check['max_prob_diff']:.1g})")
        except Exception as exc:  # noqa: BLE001 - never fails the run: TensorFlow answers instead
            self.log.write(f"no serving model: {type(exc).__name__}: {exc}")

    def fail(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self.log.write(f"failed: {message}")
        with contextlib.suppress(Exception):
            self.run_dir.write_status(state="failed", phase="failed", message=message, error=message)
        with contextlib.suppress(Exception):
            update_run(self.store, self.run_dir.run_id, status="failed", error=message,
                       model_sha256=self.facts.get("model_sha256"))

    def cleanup(self) -> None:
        for folder in self._cleanup:
            shutil.rmtree(folder, ignore_errors=True)


def default_run_dir(workspace: Workspace, run_id: str) -> RunDir:
    """The folder of a run inside the workspace."""
    return RunDir(workspace.runs_dir / run_id)

