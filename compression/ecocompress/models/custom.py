"""Your own PyTorch classifier and data as a model kind (``ecocompress.compress`` is the one call for it).

It goes through exactly the same engine, measurement and results store as the built-in samples.
Students (width < 1) need ``build_student(width) -> nn.Module``: only you know how to make your model
narrower.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.architectures import count_parameters
from ecocompress.core.data import Dataset
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.recipes import TrainConfig, finetune_of
from ecocompress.models.base import ModelKind

if TYPE_CHECKING:
    from ecocompress.compressor.artifact import Artifact


@dataclass(frozen=True, eq=False)
class CustomModel(ModelKind):
    """A user's model and data behind the model-kind interface."""

    name: str
    model: nn.Module
    data: Dataset
    build_student: Callable[[float], nn.Module] | None = None
    recipe: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64, lr=1e-3))
    finetune_steps: int = 300
    distill_steps: int = 1500
    title: str = "custom model"
    task: str = "classification"
    runs_in_worker = False  # your model and its student builder live in your process (they may not pickle)

    def load(self) -> nn.Module:
        return copy.deepcopy(self.model).eval()

    def check_point(self, point: CompressionPoint) -> None:
        """A student needs your builder: refused before the baseline is measured, not after."""
        if point.student_width != 1.0:
            self._builder()

    def _builder(self) -> Callable[[float], nn.Module]:
        if self.build_student is None:
            raise InvalidParameterError(
                f"Model {self.name!r} has no student builder; pass build_student=... to compress() "
                "to distill it, or use student width 1."
            )
        return self.build_student

    def build(self, width: float = 1.0) -> nn.Module:
        return copy.deepcopy(self.model) if width == 1.0 else self._builder()(width)

    def dataset(self) -> Dataset:
        return self.data

    def card(self) -> dict:
        return {}

    def _epochs(self, steps: int) -> int:
        """Enough epochs for about ``steps`` optimiser steps, whatever the data set's size."""
        per_epoch = max(1, math.ceil(len(self.data.y_train) / self.recipe.batch_size))
        return max(1, math.ceil(steps / per_epoch))

    def finetune_config(self, seed: int = 0) -> TrainConfig:
        return finetune_of(self.recipe, self._epochs(self.finetune_steps), seed)

    def distill_config(self, seed: int = 0) -> TrainConfig:
        return replace(self.recipe, epochs=self._epochs(self.distill_steps), seed=seed)

    @functools.cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256(type(self.model).__qualname__.encode())
        for key, value in self.model.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        for array in (self.data.x_train, self.data.y_train, self.data.x_test, self.data.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @property
    def params(self) -> int:
        return count_parameters(self.model)

    @functools.cached_property
    def baseline_macs(self) -> int:
        from ecocompress.compressor.techniques.layers import count_macs

        return count_macs(self.build(), self.data.input_shape)

    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        from ecocompress.compressor.pipeline import build_artifact

        return build_artifact(self, point, out_path, seed=seed, progress=progress)


def as_dataset(name: str, x_train, y_train, x_test, y_test) -> Dataset:
    arrays = [np.asarray(a) for a in (x_train, y_train, x_test, y_test)]
    xs = [a.astype(np.float32) for a in arrays[::2]]
    ys = [a.astype(np.int64) for a in arrays[1::2]]
    for label, x, y in (("train", xs[0], ys[0]), ("test", xs[1], ys[1])):
        if len(x) != len(y) or len(x) == 0:
            raise InvalidParameterError(f"The {label} data must have as many labels as examples and at least one. Got {len(x)} and {len(y)}.")
        if not np.isfinite(x).all():
            raise InvalidParameterError(f"The {label} features contain NaN or infinite values; clean them first.")
    if xs[0].shape[1:] != xs[1].shape[1:]:
        raise InvalidParameterError(f"Train and test examples have different shapes: {xs[0].shape[1:]} and {xs[1].shape[1:]}.")
    return Dataset(name, xs[0], ys[0], xs[1], ys[1], f"user data: {len(ys[0]):,} train / {len(ys[1]):,} test examples")


def custom_model(
    model: nn.Module,
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    name: str = "custom",
    build_student: Callable[[float], nn.Module] | None = None,
    recipe: TrainConfig | None = None,
) -> CustomModel:
    """Your model (copied, in eval mode) and data, checked: a shape mismatch fails here, plainly."""
    from ecocompress.models.registry import check_user_name

    check_user_name(name)
    spec = CustomModel(
        name=name,
        model=copy.deepcopy(model).eval(),
        data=as_dataset(name, x_train, y_train, x_test, y_test),
        build_student=build_student,
        **({"recipe": recipe} if recipe else {}),
    )
    with torch.no_grad():
        spec.load()(torch.from_numpy(spec.data.x_test[:2]))
    return spec
