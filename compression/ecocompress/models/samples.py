"""The built-in sample models: small classifiers trained by ``sample_models/train.py`` on data that ships
with the project, their weights committed as ``.npz`` state dicts (loaded with ``allow_pickle=False``)."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ecocompress.core.config import SAMPLE_DIR
from ecocompress.core.errors import DataIntegrityError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.recipes import TrainConfig, finetune_of
from ecocompress.core.units import percent
from ecocompress.models.base import ModelKind

if TYPE_CHECKING:  # torch is imported only when a network is built: serving a cached point stays fast
    from torch import nn

    from ecocompress.compressor.artifact import Artifact
    from ecocompress.core.data import Dataset


@dataclass(frozen=True)
class SampleModel(ModelKind):
    """A built-in model: what it is, what data it was trained on, and where its weights live."""

    name: str
    title: str
    task: str
    dataset_name: str
    architecture: str
    recipe: TrainConfig
    finetune_epochs: int
    distill_epochs: int
    weights_fp16: bool = False  # stored rounded to fp16 (half the file; the network still runs in fp32)

    def finetune_config(self, seed: int = 0) -> TrainConfig:
        """Short, gentle fine-tune after pruning, factorising or quantization-aware training."""
        return finetune_of(self.recipe, self.finetune_epochs, seed)

    def distill_config(self, seed: int = 0) -> TrainConfig:
        """Training a student from scratch: the teacher's recipe with its own epoch budget."""
        return replace(self.recipe, epochs=self.distill_epochs, seed=seed)

    @property
    def weights_path(self) -> Path:
        return SAMPLE_DIR / f"{self.name}.npz"

    @property
    def card_path(self) -> Path:
        return SAMPLE_DIR / f"{self.name}.card.json"

    def build(self, width: float = 1.0) -> nn.Module:
        """A fresh, untrained network of this model's architecture at ``width``."""
        from ecocompress.compressor.architectures import ARCHITECTURES

        return ARCHITECTURES[self.architecture](width=width)

    def dataset(self) -> Dataset:
        from ecocompress.core.data import load_dataset

        return load_dataset(self.dataset_name)

    def load(self) -> nn.Module:
        """The trained teacher network in eval mode."""
        if not self.weights_path.is_file():
            raise DataIntegrityError(
                f"Weights for {self.name!r} are missing at {self.weights_path}; "
                "run `python sample_models/train.py` to recreate them."
            )
        import numpy as np
        import torch

        model = self.build()
        with np.load(self.weights_path, allow_pickle=False) as npz:
            state = {key: torch.from_numpy(npz[key]) for key in npz.files}
        model.load_state_dict(state)  # copies into the fp32 parameters, so fp16-stored weights run in fp32
        return model.eval()

    def card(self) -> dict:
        """The model card written by the training script (dataset, split, accuracy, size)."""
        if not self.card_path.is_file():
            return {}
        return json.loads(self.card_path.read_text())

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 of the weights file: the model's identity in the results store."""
        return hashlib.sha256(self.weights_path.read_bytes()).hexdigest()

    @property
    def params(self) -> int:
        from ecocompress.compressor.architectures import count_parameters

        return count_parameters(self.build())

    @functools.cached_property
    def baseline_macs(self) -> int:
        """Dense MACs depend on shapes only: counted on the architecture, no weights loaded."""
        from ecocompress.compressor.techniques.layers import count_macs

        return count_macs(self.build(), self.dataset().input_shape)

    @property
    def dataset_description(self) -> str:
        return self.dataset_name

    def summary(self) -> str | None:
        card = self.card()
        if not card:
            return None
        return f"{card['dataset']}; {card['params']:,} parameters; test accuracy {percent(card['test_accuracy_torch'])}."

    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        from ecocompress.compressor.pipeline import build_artifact

        return build_artifact(self, point, out_path, seed=seed, progress=progress)


SAMPLE_MODELS: dict[str, SampleModel] = {
    m.name: m
    for m in (
        SampleModel(
            "digits-cnn", "Digits CNN", "8x8 digit classification", "digits", "DigitsCNN",
            recipe=TrainConfig(epochs=60, batch_size=128, lr=1e-3, seed=0, shift_pixels=1),
            finetune_epochs=15,
            distill_epochs=60,
        ),
        SampleModel(
            "mnist-lenet300", "LeNet-300-100", "MNIST digit classification", "mnist", "LeNet300",
            recipe=TrainConfig(epochs=30, batch_size=128, lr=1e-3, weight_decay=1e-5, seed=0, shift_pixels=2),
            finetune_epochs=12,
            distill_epochs=15,
        ),
        SampleModel(
            "mnist-lenet5", "LeNet-5 (Caffe)", "MNIST digit classification", "mnist", "LeNet5",
            recipe=TrainConfig(epochs=15, batch_size=128, lr=1e-3, weight_decay=1e-5, seed=0, shift_pixels=2),
            finetune_epochs=6,
            distill_epochs=8,
        ),
        SampleModel(  # real size (issue 30): torchvision's ResNet-18 layout, 11.2M parameters, 22 MB as fp16
            "mnist-resnet18", "ResNet-18", "MNIST digit classification", "mnist", "ResNet18",
            recipe=TrainConfig(epochs=2, batch_size=128, lr=1e-3, weight_decay=1e-5, seed=0, shift_pixels=2),
            finetune_epochs=1,
            distill_epochs=2,
            weights_fp16=True,
        ),
    )
}
DEFAULT_MODEL = "digits-cnn"
