"""The training configuration: one frozen, validated, JSON-safe record per run."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from fashion_core.errors import FashionCoreError, ModelError
from fashion_core.labels.view import ACTIVE, LabelSource
from fashion_core.modeling.backbones import BACKBONES, backbone_spec, weights_problem

SCHEDULES = ("heads", "finetune", "heads_then_finetune")
IMBALANCE_SCHEMES = ("none", "class_weights", "focal")
DISTRIBUTE_MODES = ("auto", "none", "mirrored", "multiworker")
MIXED_PRECISION_MODES = ("auto", "off", "on")
CACHE_MODES = ("auto", "memory", "file")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class TrainConfigError(FashionCoreError, ValueError):
    """A training option is out of range or unknown."""


def _fail(name: str, rule: str, value: Any) -> NoReturn:
    raise TrainConfigError(f"`{name}` must be {rule}. Received: {name}={value!r}")


def _check_number(name: str, value: Any, lo: float, hi: float, *, integer: bool = False,
                  lo_open: bool = False) -> None:
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        what = "an integer" if integer else "a number"
        _fail(name, f"{what} in {'(' if lo_open else '['}{lo}, {hi}]", value)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        _fail(name, f"one of {list(choices)}", value)


@dataclass(frozen=True)
class Augmentation:
    """On-the-fly augmentations of training images; each a switch with a strength.

    Strengths follow the Keras layers: rotation is a fraction of a full turn, translation
    a fraction of the side, brightness and contrast a relative change.
    """

    flip: bool = True
    flip_mode: str = "horizontal"  # garments are left-right symmetric, not upside-down
    rotation: bool = True
    rotation_factor: float = 0.03
    translation: bool = True
    translation_factor: float = 0.06
    brightness: bool = True
    brightness_factor: float = 0.15
    contrast: bool = True
    contrast_factor: float = 0.15

    def __post_init__(self) -> None:
        _check_choice("augmentation.flip_mode", self.flip_mode, FLIP_MODES)
        for name in ("rotation", "translation", "brightness", "contrast"):
            _check_number(f"augmentation.{name}_factor", getattr(self, f"{name}_factor"), 0.0, 1.0)

    @property
    def enabled(self) -> bool:
        return any((self.flip, self.rotation, self.translation, self.brightness, self.contrast))

    @classmethod
    def off(cls) -> Augmentation:
        return cls(flip=False, rotation=False, translation=False, brightness=False, contrast=False)


@dataclass(frozen=True)
class Imbalance:
    """How class imbalance is countered, and how much each head's loss counts.

    ``class_weights``: per-class weights from the counts (inverse frequency, normalised to
    mean 1 over the labelled images, clipped to ``max_class_weight``) inside each loss.
    ``focal``: focal loss with ``focal_gamma``. ``head_weights``: category -> loss weight
    (default 1.0), given as a mapping and stored as sorted pairs so the config stays hashable.
    """

    scheme: str = "class_weights"
    focal_gamma: float = 2.0
    max_class_weight: float = 10.0
    head_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        _check_choice("imbalance.scheme", self.scheme, IMBALANCE_SCHEMES)
        _check_number("imbalance.focal_gamma", self.focal_gamma, 0.0, 10.0)
        _check_number("imbalance.max_class_weight", self.max_class_weight, 1.0, 1000.0)
        pairs = self.head_weights.items() if isinstance(self.head_weights, Mapping) else self.head_weights
        try:
            frozen = tuple(sorted((str(k), float(v)) for k, v in pairs))
        except (TypeError, ValueError):
            _fail("imbalance.head_weights", "a mapping of category -> number", self.head_weights)
        for cat, weight in frozen:
            _check_number(f"imbalance.head_weights[{cat!r}]", weight, 0.0, 1000.0)
        object.__setattr__(self, "head_weights", frozen)

    def head_weight(self, category: str) -> float:
        return dict(self.head_weights).get(category, 1.0)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data; the Train page's defaults.

    The defaults suit the demo data on a 2-core CPU: EfficientNet-Lite0 with its bundled
    ImageNet weights at 128 px, two epochs of heads, then 14 epochs fine-tuning the top half
    of the backbone, stopping early (7-9 minutes for the 1,500 demo images).

    Attributes:
        dataset: Dataset name in the store.
        labels: Which labels to train on (``ACTIVE``: through the dataset's active map,
            ``NO_MAP``, or ``LabelSource.named(name)``). The run records the map it resolved.
            Stored in ``config.json`` as ``map_name`` (None = active, "" = no map, else a name).
        categories: Categories to train (one head each); None = all with labels.
        backbone: A key of ``backbones.BACKBONES``.
        weights: ``bundled``, ``imagenet``, ``none`` or a weights file path; None picks the
            backbone's default (``bundled`` for EfficientNet-Lite, else ``imagenet``).
        image_size: Input side in pixels (images are resized to a square).
        epochs: Epochs of the first phase (heads, or all layers for ``finetune``).
        finetune_epochs: Epochs of the fine-tune phase of ``heads_then_finetune``.
        batch_size: Global batch size (split across devices when distributed).
        learning_rate: Adam learning rate of the first phase.
        schedule: ``heads``, ``finetune`` or ``heads_then_finetune``.
        finetune_lr_factor: Fine-tune learning rate = learning_rate * this.
        finetune_layers: Share of the backbone's layers, from the top, that the fine-tune phase
            of ``heads_then_finetune`` unfreezes (1.0 = all). The early layers are generic edge
            and texture detectors and the costliest to train on a CPU.
        quick: Train heads on cached backbone features (frozen backbone, no augmentation).
        dropout: Dropout before each head.
        augmentation: See ``Augmentation``.
        imbalance: See ``Imbalance``.
        val_fraction: Share of images held out for validation (stratified, seeded).
        seed: Seed of the split, the shuffling, the augmentations and the initialisation.
        early_stopping_patience: Epochs without improvement before stopping (0 = never).
        reduce_lr_patience: Epochs without improvement before lr / 5 (0 = never).
        cache: Where resized images are cached: ``memory``, ``file`` (in the run folder) or
            ``auto`` (memory up to 1 GiB of resized pixels).
        distribute: ``auto``, ``none``, ``mirrored`` or ``multiworker`` (see training).
        mixed_precision: ``auto`` (only with a GPU), ``off`` or ``on``.
    """

    dataset: str
    labels: LabelSource = ACTIVE
    categories: tuple[str, ...] | None = None
    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    image_size: int = 128
    epochs: int = 2
    finetune_epochs: int = 14
    batch_size: int = 32
    learning_rate: float = 2e-3
    schedule: str = "heads_then_finetune"
    finetune_lr_factor: float = 0.5
    finetune_layers: float = 0.5
    quick: bool = False
    dropout: float = 0.2
    augmentation: Augmentation = field(default_factory=Augmentation)
    imbalance: Imbalance = field(default_factory=Imbalance)
    val_fraction: float = 0.2
    seed: int = 0
    early_stopping_patience: int = 3
    reduce_lr_patience: int = 2
    cache: str = "auto"
    distribute: str = "auto"
    mixed_precision: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            _fail("dataset", "a non-empty dataset name", self.dataset)
        if not isinstance(self.labels, LabelSource):
            _fail("labels", "a LabelSource (ACTIVE, NO_MAP or LabelSource.named(name))", self.labels)
        self._freeze_categories()
        self._check_model_options()
        self._check_training_options()
        for name, choices in (("schedule", SCHEDULES), ("cache", CACHE_MODES),
                              ("distribute", DISTRIBUTE_MODES), ("mixed_precision", MIXED_PRECISION_MODES)):
            _check_choice(name, getattr(self, name), choices)
        for name, kind in (("augmentation", Augmentation), ("imbalance", Imbalance)):
            if not isinstance(getattr(self, name), kind):
                _fail(name, f"an {kind.__name__}", getattr(self, name))

    def _freeze_categories(self) -> None:
        cats = self.categories
        if cats is None:
            return
        if isinstance(cats, str) or not all(isinstance(c, str) and c for c in cats):
            _fail("categories", "None or a list of category names", cats)
        if not cats:
            _fail("categories", "None (all) or at least one category name", cats)
        if len(set(cats)) != len(cats):
            _fail("categories", "a list without repeats", cats)
        object.__setattr__(self, "categories", tuple(cats))

    def _check_model_options(self) -> None:
        _check_choice("backbone", self.backbone, sorted(BACKBONES))
        spec = backbone_spec(self.backbone)
        weights = spec.default_weights if self.weights is None else self.weights
        if not isinstance(weights, str) or not weights:
            _fail("weights", "'bundled', 'imagenet', 'none' or a file path", self.weights)
        problem = weights_problem(self.backbone, weights)
        if problem:
            raise TrainConfigError(f"`weights`: {problem}")
        object.__setattr__(self, "weights", weights)
        _check_number("image_size", self.image_size, spec.min_size, 1024, integer=True)
        _check_number("dropout", self.dropout, 0.0, 0.9)

    def _check_training_options(self) -> None:
        _check_number("epochs", self.epochs, 1, 10_000, integer=True)
        _check_number("finetune_epochs", self.finetune_epochs, 0, 10_000, integer=True)
        _check_number("batch_size", self.batch_size, 1, 65_536, integer=True)
        _check_number("learning_rate", self.learning_rate, 0.0, 10.0, lo_open=True)
        _check_number("finetune_lr_factor", self.finetune_lr_factor, 0.0, 1.0, lo_open=True)
        _check_number("finetune_layers", self.finetune_layers, 0.0, 1.0, lo_open=True)
        _check_number("val_fraction", self.val_fraction, 0.0, 0.9, lo_open=True)
        _check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        _check_number("early_stopping_patience", self.early_stopping_patience, 0, 10_000, integer=True)
        _check_number("reduce_lr_patience", self.reduce_lr_patience, 0, 10_000, integer=True)
        if not isinstance(self.quick, bool):
            _fail("quick", "True or False", self.quick)

    # -- derived ----------------------------------------------------------------------------

    @property
    def effective_schedule(self) -> str:
        """The schedule actually run: quick mode trains heads only."""
        return "heads" if self.quick else self.schedule

    @property
    def effective_augmentation(self) -> Augmentation:
        """Quick mode reuses cached features, so it cannot augment."""
        return Augmentation.off() if self.quick else self.augmentation

    @property
    def total_epochs(self) -> int:
        extra = self.finetune_epochs if self.effective_schedule == "heads_then_finetune" else 0
        return self.epochs + extra

    # -- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that ``from_dict`` turns back into an equal config."""
        data = dataclasses.asdict(self)
        del data["labels"]
        data["map_name"] = self.labels.to_config()  # the encoding run folders have always used
        data["categories"] = None if self.categories is None else list(self.categories)
        data["imbalance"]["head_weights"] = dict(self.imbalance.head_weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Rebuild a config from ``to_dict`` output (or a form); unknown keys are an error."""
        data = dict(data)
        if "map_name" in data:
            if "labels" in data:
                _fail("map_name", "either map_name (config text) or labels, not both", data["map_name"])
            try:
                data["labels"] = LabelSource.from_config(data.pop("map_name"))
            except FashionCoreError as exc:
                raise TrainConfigError(str(exc)) from exc
        _reject_unknown("TrainConfig", data, cls)
        if data.get("quick"):  # options not given take quick mode's own defaults (see QUICK_DEFAULTS)
            data = {**QUICK_DEFAULTS, **data}
        try:
            if isinstance(data.get("augmentation"), Mapping):
                _reject_unknown("augmentation", data["augmentation"], Augmentation)
                data["augmentation"] = Augmentation(**data["augmentation"])
            if isinstance(data.get("imbalance"), Mapping):
                _reject_unknown("imbalance", data["imbalance"], Imbalance)
                data["imbalance"] = Imbalance(**data["imbalance"])
            if isinstance(data.get("categories"), list):
                data["categories"] = tuple(data["categories"])
            return cls(**data)
        except TypeError as exc:  # a required key missing
            raise TrainConfigError(f"Incomplete training config: {exc}") from exc
        except ModelError as exc:
            raise TrainConfigError(str(exc)) from exc


# Quick mode trains only the heads, on cached features: an epoch takes a fraction of a second, so
# it can afford many more of them (the full defaults' 2 heads epochs gave mean validation accuracy
# 0.52 on the demo data against 0.81 for a full run). Early stopping ends it when it stops improving.
QUICK_DEFAULTS: dict[str, Any] = {"epochs": 60, "learning_rate": 3e-3, "early_stopping_patience": 10,
                                  "reduce_lr_patience": 4}


def _reject_unknown(what: str, data: Mapping[str, Any], cls: type) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"Unknown {what} option(s) {unknown}; known: {sorted(known)}")
