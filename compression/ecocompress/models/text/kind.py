"""The text model as a model kind: all-MiniLM-L6-v2, its data, its pipeline and its quality measure."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.models.base import ModelKind
from ecocompress.models.text.encoder import (
    FFN, HEADS, LAYERS, NAME, QUALITY, SENTENCES, SHA256, Fidelity, _checked_weights, build_encoder, embed, fidelity,
    load_teacher, macs_for, split, test_sentences,
)
from ecocompress.models.text.pipeline import build_text_artifact, check_point

if TYPE_CHECKING:
    from ecocompress.build.artifact import Artifact
    from ecocompress.measure.flips import NeighbourChanges
    from ecocompress.core.records import MeasureSettings

TEXT_BATCH = 32


@dataclass(frozen=True, eq=False)
class TextModel(ModelKind):
    """all-MiniLM-L6-v2 behind the model-kind interface, evaluated by agreement with itself."""

    name: str = NAME
    title: str = "all-MiniLM-L6-v2 (sentence embeddings)"
    task: str = "sentence embeddings; quality = " + QUALITY
    dataset_name: str = "3,000 generated sentences over 20 topics (sample_models/make_sentences.py)"
    quality_metric: str = QUALITY
    _cache: dict = field(default_factory=dict, repr=False)
    per_layer_allocation = False  # its pipeline drops heads and layers; per-layer grids are for the vision kinds
    quick_versions = False  # its layers are dropped and recovered in one step: the first answer is the point itself

    @functools.cached_property
    def content_hash(self) -> str:
        return hashlib.sha256((SHA256 + hashlib.sha256(SENTENCES.read_bytes()).hexdigest()).encode()).hexdigest()

    def card(self) -> dict:
        return {}

    def load(self):
        return load_teacher()

    def build(self, width: float = 1.0):
        """A fresh, untrained encoder of the teacher's shape (its students are made by dropping the teacher's
        layers, ``pipeline.fewer_layers``, so ``width`` does not shape a fresh one)."""
        return build_encoder([HEADS] * LAYERS, [FFN] * LAYERS)

    def dataset(self):
        from ecocompress.core.data import Dataset

        if "data" not in self._cache:
            train, test = split()
            self._cache["data"] = Dataset(NAME, train, np.zeros(len(train), np.int64), test, np.zeros(len(test), np.int64),
                                          self.dataset_name)
        return self._cache["data"]

    def reference(self, which: str = "test") -> np.ndarray:
        """The original model's embeddings of the train or test sentences (computed once per process)."""
        if which not in self._cache:
            data = self.dataset()
            self._cache[which] = embed(self.load(), data.x_test if which == "test" else data.x_train)
        return self._cache[which]

    def check_point(self, point: CompressionPoint) -> None:
        """Refuse what the text model does not offer (see ``pipeline.check_point``)."""
        check_point(point)

    def measure_batch(self, settings: MeasureSettings) -> int:
        """32 sentences per call in the batch scenario: 256 sentences of 32 tokens take seconds per call on one thread."""
        return TEXT_BATCH if settings.scenario == "batch" else 1

    def prediction_changes(self, outputs, baseline) -> "NeighbourChanges":
        """Held-out sentences whose nearest neighbour moved, against the original model's embeddings (the same
        reference the quality figure uses, so ``baseline`` is not run)."""
        from ecocompress.measure.flips import neighbour_changes

        return neighbour_changes(self.reference("test"), outputs)

    def example_texts(self) -> list[str]:
        """The held-out sentences, in the order of the test set (what the neighbour changes point at)."""
        return test_sentences()

    def test_outputs(self, session):
        """The held-out sentences' embeddings (64 sentences per call)."""
        from ecocompress.measure.session import run_logits

        return run_logits(session, self.dataset().x_test, batch_size=64)

    def score(self, outputs) -> Fidelity:
        """How well the embeddings keep the original's neighbourhoods (``encoder.fidelity``)."""
        return fidelity(outputs, self.reference("test"))

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
        return int(sum(v.size for k, v in _checked_weights().items() if k != "embeddings.position_ids"))
