"""An upload behind the model-kind interface: its data split, its recipes and its own pipeline."""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.models.base import ModelKind
from ecocompress.models.uploads.onnx_file import OnnxClassifier

if TYPE_CHECKING:
    from ecocompress.compressor.artifact import Artifact

HELD_OUT_SHARE = 0.3  # without a separate training file, this share of the data is kept for evaluation
SMALL_DATA = 1000  # fewer training examples than this: a student trained on them is not to be trusted
# Optimiser steps (batch 64) of an upload's recipes, as epochs over its training split (1 to 200). A fine-tune stops
# earlier once held-out accuracy is back (``with_recovery_rule``): 300 steps left a 50% structured ResNet-18 1.6
# points short on MNIST.
FINETUNE_STEPS = 1500
DISTILL_STEPS = 1500


@dataclass(frozen=True, eq=False)
class UploadedModel(ModelKind):
    """A user's ONNX classifier and data behind the model-kind interface."""

    name: str
    title: str
    onnx_bytes: bytes
    info: OnnxClassifier
    data: Any  # ecocompress.core.data.Dataset
    data_note: str
    task: str = "uploaded ONNX classifier"
    warnings: tuple[str, ...] = field(default=())
    #: Whether the file became a trainable torch module that reproduces it (``compressor.convert``); None: not checked.
    conversion: Any = None  # ecocompress.compressor.convert.Conversion

    @property
    def converts(self) -> bool:
        """Converted and checked: every technique runs through the samples' torch pipeline, fine-tuned on the
        user's training split. Otherwise only what works on the file itself (``compressor.onnx_pipeline``)."""
        return self.conversion is not None and self.conversion.converts

    @property
    def per_layer_allocation(self) -> bool:  # per-layer settings are fine-tuned: they need the torch module
        return self.converts

    @functools.cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256(self.onnx_bytes)
        for array in (self.data.x_train, self.data.y_train, self.data.x_test, self.data.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def dataset(self):
        return self.data

    @property
    def held_bytes(self) -> int:
        arrays = (self.data.x_train, self.data.y_train, self.data.x_test, self.data.y_test)
        return len(self.onnx_bytes) + sum(int(np.asarray(a).nbytes) for a in arrays)

    def summary(self) -> str:
        if self.conversion is None:
            return (f"Uploaded ONNX model; {self.data_note}. Structured pruning and low-rank need training code: use "
                    "them with a student.")
        return f"Uploaded ONNX model; {self.data_note}. {self.conversion.reason}"

    def check_point(self, point: CompressionPoint) -> None:
        """A converted upload does every point; otherwise refuse what needs training (``onnx_pipeline.check_point``)."""
        if self.converts:
            return
        from ecocompress.compressor.onnx_pipeline import check_point

        try:
            check_point(point)
        except InvalidParameterError as exc:
            if self.conversion is None:
                raise
            raise InvalidParameterError(f"{exc} ({self.conversion.reason})") from None

    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        """The baseline is the file itself. A converted upload goes through the samples' torch pipeline; otherwise,
        at full width, the file's own weights are edited, and a student is trained here from its outputs."""
        if point.is_baseline or (point.student_width == 1.0 and not self.converts):
            from ecocompress.compressor.onnx_pipeline import build_onnx_artifact

            artifact = build_onnx_artifact(self.onnx_bytes, self.data, point, out_path, seed=seed, progress=progress)
            if self.converts:  # parameters counted as for its compressed versions: the torch module's, biases included
                from ecocompress.compressor.architectures import count_parameters

                artifact = replace(artifact, params=count_parameters(self.build(1.0)))
            return artifact
        from ecocompress.compressor.pipeline import build_artifact

        return build_artifact(self, point, out_path, seed=seed, progress=progress)

    def load(self):
        """The teacher: the converted module, or one that runs the file in onnxruntime (distillation only)."""
        if self.converts:
            return self.build(1.0).eval()
        from ecocompress.compressor.students import OnnxTeacher

        return OnnxTeacher(self.onnx_bytes, self.info.input_name, self.info.output_index)

    def build(self, width: float = 1.0):
        """A converted upload's torch module (a fresh copy) with ``width`` of every layer's channels, as the
        samples' students are their own architecture narrowed: at half width about a quarter of the work. Started
        from the teacher's strongest channels (``narrow``), so distillation begins near the teacher.
        An upload that does not convert gets a student network for its input shape with about ``width`` x the
        teacher's parameters (``student_for``)."""
        if self.converts:
            from ecocompress.compressor.convert import converted
            from ecocompress.compressor.techniques.pruning import narrow

            module = converted(self.onnx_bytes, self.content_hash)
            return module if width == 1.0 else narrow(module, width, self.info.input_shape)
        from ecocompress.compressor.students import student_for

        return student_for(self.info.input_shape, self.info.classes, self.params * width)

    @functools.cached_property
    def baseline_macs(self) -> int:
        import tempfile

        from ecocompress.measure.opcounts import count_operations

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(self.onnx_bytes)
            return count_operations(path).macs

    @functools.cached_property
    def params(self) -> int:
        import onnx

        model = onnx.load_from_string(self.onnx_bytes)
        return sum(math.prod(t.dims) for t in model.graph.initializer if len(t.dims) >= 1)

    def finetune_config(self, seed: int = 0):
        from ecocompress.core.recipes import TrainConfig

        return TrainConfig(epochs=self._epochs(FINETUNE_STEPS), batch_size=64, lr=5e-4, seed=seed)

    def distill_config(self, seed: int = 0):
        from ecocompress.core.recipes import TrainConfig

        return TrainConfig(epochs=self._epochs(DISTILL_STEPS), batch_size=64, lr=1e-3, seed=seed)

    def _epochs(self, steps: int) -> int:
        per_epoch = max(1, math.ceil(len(self.data.y_train) / 64))
        return max(1, min(200, math.ceil(steps / per_epoch)))
