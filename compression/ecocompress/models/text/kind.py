"""The text models as model kinds: all-MiniLM-L6-v2, its data, its pipeline and its quality measure."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.models.base import ModelKind
from ecocompress.models.text.encoder import (
    FFN, HEADS, LAYERS, NAME, QUALITY, SENTENCES, SHA256, Fidelity, _checked_weights, build_encoder, embed, fidelity,
    load_teacher, macs_for, split, test_sentences,
)
from ecocompress.core.records import TEXT_BATCH
from ecocompress.models.text.pipeline import build_text_artifact, check_point

if TYPE_CHECKING:
    from ecocompress.compressor.artifact import Artifact
    from ecocompress.measure.flips import NeighbourChanges
    from ecocompress.core.records import MeasureSettings


class MiniLMKind(ModelKind):
    """What both MiniLM samples share: the pretrained encoder, the sentence set and the transformer pipeline.

    A subclass says what the network outputs (``wrap``) and how its quality is judged (``score``)."""

    _cache: dict
    per_layer_allocation = False  # its pipeline drops heads and layers; per-layer grids are for the vision kinds
    quick_versions = False  # its layers are dropped and recovered in one step: the first answer is the point itself

    def encoder(self):
        """The original all-MiniLM-L6-v2 encoder (what the pipeline compresses)."""
        return load_teacher()

    def wrap(self, encoder):
        """The network measured, around a (compressed) encoder: the encoder itself by default."""
        return encoder

    def load(self):
        return self.wrap(self.encoder())

    def build(self, width: float = 1.0):
        """A fresh, untrained network of the teacher's shape (students are made by dropping the teacher's layers,
        ``pipeline.fewer_layers``, so ``width`` does not shape a fresh one)."""
        return self.wrap(build_encoder([HEADS] * LAYERS, [FFN] * LAYERS))

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) labels; zeros for a model that has none."""
        train, test = self.dataset_ids()
        return np.zeros(len(train), np.int64), np.zeros(len(test), np.int64)

    def dataset_ids(self) -> tuple[np.ndarray, np.ndarray]:
        if "ids" not in self._cache:
            self._cache["ids"] = split()
        return self._cache["ids"]

    def dataset(self):
        from ecocompress.core.data import Dataset

        if "data" not in self._cache:
            (train, test), (y_train, y_test) = self.dataset_ids(), self.labels()
            self._cache["data"] = Dataset(self.name, train, y_train, test, y_test, self.dataset_name)
        return self._cache["data"]

    def reference(self, which: str = "test") -> np.ndarray:
        """The original encoder's embeddings of the train or test sentences (computed once per process): what
        recovery and distillation train the compressed encoder to reproduce."""
        if which not in self._cache:
            train, test = self.dataset_ids()
            self._cache[which] = embed(self.encoder(), test if which == "test" else train)
        return self._cache[which]

    def runtime_check(self, which: slice) -> tuple[str, float, Callable[[np.ndarray], float]]:
        """(what is compared, the drop allowed, outputs -> that figure) for the training sentences ``which``
        selects: how the runtime choice knows a faster format still computes the same thing."""
        reference = self.reference("train")[which]
        return "mean cosine", 0.01, lambda outputs: fidelity(outputs, reference).cosine

    def check_point(self, point: CompressionPoint) -> None:
        """Refuse what the text models do not offer (see ``pipeline.check_point``)."""
        check_point(point)

    def measure_batch(self, settings: MeasureSettings) -> int:
        """``TEXT_BATCH`` sentences per call in the batch scenario."""
        return TEXT_BATCH if settings.scenario == "batch" else 1

    def example_texts(self) -> list[str]:
        """The held-out sentences, in the order of the test set."""
        return test_sentences()

    def test_outputs(self, session):
        """The held-out sentences' outputs (64 sentences per call)."""
        from ecocompress.measure.session import run_logits

        return run_logits(session, self.dataset().x_test, batch_size=64)

    @property
    def dataset_description(self) -> str:
        return self.dataset_name

    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        return build_text_artifact(self, point, out_path, seed=seed, progress=progress)

    @property
    def baseline_macs(self) -> int:
        """Multiply-accumulates of the weight layers for one 32-token sentence (attention products excluded)."""
        return macs_for([HEADS] * LAYERS, [FFN] * LAYERS)

    @property
    def params(self) -> int:
        """Parameters of the encoder we run (the checkpoint's pooler, which sentence embeddings skip, not counted)."""
        return int(sum(v.size for k, v in _checked_weights().items()
                       if k != "embeddings.position_ids" and not k.startswith("pooler.")))


@dataclass(frozen=True, eq=False)
class TextModel(MiniLMKind):
    """all-MiniLM-L6-v2 as a sentence encoder, evaluated by agreement with itself."""

    name: str = NAME
    title: str = "all-MiniLM-L6-v2 (sentence embeddings)"
    task: str = "sentence embeddings; quality = " + QUALITY
    dataset_name: str = "3,000 generated sentences over 20 topics (sample_models/make_sentences.py)"
    quality_metric: str = QUALITY
    _cache: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def content_hash(self) -> str:
        return hashlib.sha256((SHA256 + hashlib.sha256(SENTENCES.read_bytes()).hexdigest()).encode()).hexdigest()

    def prediction_changes(self, outputs, baseline) -> "NeighbourChanges":
        """Held-out sentences whose nearest neighbour moved, against the original model's embeddings (the same
        reference the quality figure uses, so ``baseline`` is not run)."""
        from ecocompress.measure.flips import neighbour_changes

        return neighbour_changes(self.reference("test"), outputs)

    def score(self, outputs) -> Fidelity:
        """How well the embeddings keep the original's neighbourhoods (``encoder.fidelity``)."""
        return fidelity(outputs, self.reference("test"))
