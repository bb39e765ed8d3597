"""Model registry: the built-in sample models behind one interface.

A ``SampleModel`` knows its dataset, its architecture and its committed weights (an ``.npz``
of the state dict, loaded with ``allow_pickle=False``: nothing executable is ever read).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from compression.errors import DataIntegrityError, InvalidParameterError, UnknownModelError
from compression.recipes import TrainConfig, finetune_of

if TYPE_CHECKING:  # torch is imported only when a network is built: serving a cached point stays fast
    from torch import nn

    from compression.data import Dataset

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_models"


@dataclass(frozen=True)
class SampleModel:
    """A built-in model: what it is, what data it was trained on, and where its weights live."""

    name: str
    title: str
    task: str
    dataset_name: str
    architecture: str
    recipe: TrainConfig
    finetune_epochs: int
    distill_epochs: int

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
        from compression.architectures import ARCHITECTURES

        return ARCHITECTURES[self.architecture](width=width)

    def dataset(self) -> Dataset:
        from compression.data import load_dataset

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
        model.load_state_dict(state)
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
        from compression.architectures import count_parameters

        return count_parameters(self.build())


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
    )
}
DEFAULT_MODEL = "digits-cnn"


_REGISTERED: dict[str, Any] = {}


def register_model(spec: Any) -> None:
    """Make a user's model (``custom.CustomModel``, ``uploads.UploadedModel``) available by name in this process."""
    if spec.name in SAMPLE_MODELS:
        raise InvalidParameterError(f"The name {spec.name!r} belongs to a built-in sample model; choose another name.")
    _REGISTERED[spec.name] = spec


@functools.lru_cache(maxsize=1)
def _text_model():
    from compression.minilm import TextModel

    return TextModel()


def get_model(name: str) -> SampleModel:
    """Look a model up by name, with a sentence listing the choices when it is unknown."""
    from compression import minilm

    if name == minilm.NAME:  # the optional pretrained sentence encoder
        if not minilm.available():
            raise UnknownModelError(minilm.MISSING)
        return _text_model()
    try:
        return SAMPLE_MODELS[name] if name in SAMPLE_MODELS else _REGISTERED[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}; choose one of {', '.join(SAMPLE_MODELS)} "
            "(`ecocompress models` lists them)."
        ) from None


def list_models() -> list[SampleModel]:
    """The built-in sample models (uploads and Python-API models are found by name with ``get_model``)."""
    return list(SAMPLE_MODELS.values())
