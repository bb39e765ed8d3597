"""The one interface every kind of model implements: built-in samples, your own PyTorch model,
uploaded ONNX files and the text model.

The service layer asks a kind to build its artifact for a point and to evaluate a session; it never
asks what kind it holds. A kind that cannot do a point says so in ``check_point``, in one sentence,
before anything is queued.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecocompress.core.objectives import TEST_ACCURACY
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress

if TYPE_CHECKING:  # torch and onnxruntime load only when something must be computed
    import numpy as np
    import onnxruntime as ort
    from torch import nn

    from ecocompress.compressor.artifact import Artifact
    from ecocompress.core.data import Dataset
    from ecocompress.core.records import MeasureSettings
    from ecocompress.measure.flips import PredictionChanges
    from ecocompress.measure.session import AccuracyResult


class ModelKind(ABC):
    """A model ecocompress can compress and measure: its identity, its data and its own pipeline."""

    name: str
    title: str
    task: str
    #: What the quality figure is ("test accuracy", or the text model's agreement with the original).
    quality_metric: str = TEST_ACCURACY
    #: Cautions a user should read before trusting this model's results (e.g. too little training data).
    warnings: tuple[str, ...] = ()

    #: Whether build and measure jobs run in the limited worker process (``sandbox.limits``). A model made in
    #: the caller's own Python process (``models.custom``) stays there: its code may not be picklable.
    runs_in_worker: bool = True

    #: Whether the kind builds ``fine_tuned=False`` points: the torch pipeline's post-training version, measured
    #: first so a new setting answers in seconds (``api.quick_version``).
    quick_versions: bool = True

    #: Whether ``--per-layer auto`` can give each layer its own sparsity and bits (it needs the torch model).
    per_layer_allocation: bool = True

    @property
    def held_bytes(self) -> int:
        """Memory this object holds for its data (uploads count it toward the server's limit); 0 for files on disk."""
        return 0

    @property
    def warm_key(self) -> tuple[str, str, str]:
        """Equal for two copies of the same model: the worker keeps one copy, with its caches, per key."""
        return type(self).__name__, self.name, self.content_hash

    @property
    @abstractmethod
    def content_hash(self) -> str:
        """sha256 of what defines the model (weights, and the user's data for user models): its identity in the store."""

    @abstractmethod
    def dataset(self) -> Dataset:
        """Training and test data, already in the model's input format."""

    @abstractmethod
    def load(self) -> nn.Module:
        """The trained teacher as a torch module in eval mode."""

    @abstractmethod
    def build(self, width: float = 1.0) -> nn.Module:
        """A fresh, untrained network of this kind at ``width`` (students)."""

    @property
    @abstractmethod
    def baseline_macs(self) -> int:
        """Multiply-accumulates per inference of the uncompressed model."""

    @property
    @abstractmethod
    def params(self) -> int:
        """Parameters of the uncompressed model."""

    @abstractmethod
    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        """Compress as ``point`` says; write the runnable ONNX file to ``out_path`` and its storage file beside it."""

    def check_point(self, point: CompressionPoint) -> None:
        """Refuse, in one sentence, a point this kind cannot do (default: every point is possible)."""

    def card(self) -> dict[str, Any]:
        """The model card written when the model was trained (empty when there is none)."""
        return {}

    def measure_batch(self, settings: MeasureSettings) -> int:
        """Inferences per call in the energy and latency windows: 1 online, the batch size in the batch scenario."""
        return settings.workload_batch

    def evaluate(self, session: ort.InferenceSession) -> AccuracyResult:
        """The quality figure of a built artifact (``score`` of its ``test_outputs``)."""
        return self.score(self.test_outputs(session))

    def test_outputs(self, session: ort.InferenceSession) -> np.ndarray:
        """The artifact's outputs on the test set: a measurement runs them once, for ``score`` and ``prediction_changes``."""
        from ecocompress.measure.session import run_logits

        return run_logits(session, self.dataset().x_test)

    def score(self, outputs: np.ndarray) -> AccuracyResult:
        """Top-1 accuracy of the test outputs, with its interval."""
        from ecocompress.measure.session import accuracy_of

        return accuracy_of(outputs, self.dataset().y_test)

    def prediction_changes(self, outputs: np.ndarray, baseline: ort.InferenceSession) -> PredictionChanges | None:
        """Test examples whose class changed between the baseline's artifact and these test outputs (None: not a
        classifier)."""
        from ecocompress.measure.flips import prediction_changes
        from ecocompress.measure.session import run_logits

        data = self.dataset()
        return prediction_changes(data.y_test, run_logits(baseline, data.x_test).argmax(1), outputs.argmax(1))

    def example_texts(self) -> list[str] | None:
        """The test examples as text, for kinds whose inputs are sentences (None: images or features)."""
        return None

    def summary(self) -> str | None:
        """One line about the model and its data for the pages (None: nothing worth saying)."""
        return None

    def describe(self) -> dict[str, str]:
        """Name, title, task and data set, for model cards and reports."""
        return {"name": self.name, "title": self.title, "task": self.task, "dataset": self.dataset_description}

    @property
    def dataset_description(self) -> str:
        return self.dataset().description
