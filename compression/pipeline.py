"""Turn (model, compression point) into a runnable ONNX artifact.

Order of steps (each a pure function, each reported to ``progress``):
distill -> prune -> factorize -> export to ONNX -> quantize.
Today the engine has the fp32 baseline and 8-bit static quantization; the other steps raise
``UnsupportedPointError`` with a plain sentence until they land, so nothing is faked.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from compression.architectures import count_parameters
from compression.errors import UnsupportedPointError
from compression.export import INPUT_NAME, export_onnx
from compression.models import SampleModel
from compression.points import CompressionPoint
from compression.techniques.quantization import quantize_static_int8

Progress = Callable[[str, float], None]


def _no_progress(_step: str, _fraction: float) -> None:
    return None


@dataclass(frozen=True)
class Artifact:
    """The compressed model as we hand it out, and how it runs."""

    onnx_path: Path
    runtime_format: str
    params: int


SUPPORTED_NOW = "bits 32 (the fp32 baseline) or bits 8, with sparsity 0 and student width 1"


def check_supported(point: CompressionPoint) -> None:
    """Raise a plain sentence for settings the engine cannot produce yet."""
    unsupported = []
    if point.sparsity:
        unsupported.append(f"sparsity {point.sparsity:g}")
    if point.student_width != 1.0:
        unsupported.append(f"student width {point.student_width:g}")
    if point.rank_ratio is not None:
        unsupported.append(f"rank ratio {point.rank_ratio:g}")
    if point.structured:
        unsupported.append("structured pruning")
    if point.bits not in (8, 32):
        unsupported.append(f"{point.bits}-bit quantization")
    if unsupported:
        raise UnsupportedPointError(
            f"This version cannot produce {', '.join(unsupported)} yet; "
            f"choose {SUPPORTED_NOW}."
        )


def build_artifact(
    spec: SampleModel,
    point: CompressionPoint,
    out_path: Path,
    *,
    progress: Progress = _no_progress,
) -> Artifact:
    """Compress ``spec``'s teacher as ``point`` says and write the ONNX artifact to ``out_path``.

    The file is written to a temporary name and moved into place at the end, so an
    interrupted build never leaves a half-written artifact behind.
    """
    check_supported(point)
    data = spec.dataset()
    model = spec.load()
    params = count_parameters(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        progress("exporting to ONNX", 0.1)
        fp32 = export_onnx(model, data.input_shape, Path(tmp) / "fp32.onnx")
        if point.bits == 8:
            progress("quantizing to int8 (static QDQ, calibrated on training data)", 0.4)
            final = quantize_static_int8(fp32, Path(tmp) / "int8.onnx", data.x_train, input_name=INPUT_NAME)
            runtime_format = "onnxruntime static QDQ int8 (per-channel weights)"
        else:
            final = fp32
            runtime_format = "onnxruntime fp32"
        shutil.move(str(final), out_path)
    return Artifact(onnx_path=out_path, runtime_format=runtime_format, params=params)
