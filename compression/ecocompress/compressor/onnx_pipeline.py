"""Compress an uploaded ONNX model without its training code.

What works on the file alone, applied to the weight initializers of its convolutions and
matrix multiplies: one-shot global magnitude pruning (no fine-tune, so the accuracy it costs
shows honestly), k-bit per-channel weight rounding (the same grid as the samples), and the
runnable formats onnxruntime offers (static int8 calibrated on the user's data, dynamic int8,
fp16), chosen by timing. A student (width < 1) goes through black-box distillation instead
(``ecocompress.compressor.students``) and then the same torch steps as the samples.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.artifact import Artifact, choose_and_store
from ecocompress.compressor.storage import StorageResult, as_layer, pack
from ecocompress.core.data import Dataset
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.knobs import refuse_unoffered
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.compressor.techniques.kbit import best_scale, quantize_tensor

WEIGHT_OPS = {"Conv": 0, "Gemm": None, "MatMul": 1}  # op -> output-channel axis of its weight (Gemm: by transB)


@dataclass(frozen=True)
class WeightRef:
    node: str
    initializer: str
    out_axis: int


POST_TRAINING = {"sparsity", "bits"}  # the knobs this pipeline applies to the ONNX graph itself (no training code)


def check_point(point: CompressionPoint) -> None:
    """Refuse, in one sentence, what needs the model's training code."""
    if point.layer_settings:
        raise InvalidParameterError(
            "Per-layer settings are fine-tuned, which needs the model's training code; for an uploaded ONNX model "
            "use one sparsity and bit-width for the whole model."
        )
    if point.structured and point.student_width == 1.0:
        raise InvalidParameterError(
            "Structured pruning needs the model's training code to recover; for an uploaded ONNX model use "
            "unstructured sparsity, or a student (which is trained here)."
        )
    if point.student_width == 1.0:  # a student is a PyTorch model trained here: every knob applies to it
        refuse_unoffered(point, POST_TRAINING, lambda knob: (
            f"{knob.technique} needs the model's training code; for an uploaded ONNX model use a student as well, "
            "which is trained here."))


def weight_refs(model) -> list[WeightRef]:
    """Float weight initializers feeding a Conv, Gemm or MatMul, with their output-channel axis."""
    import onnx

    inits = {t.name: t for t in model.graph.initializer}
    refs = []
    for node in model.graph.node:
        if node.op_type not in WEIGHT_OPS or len(node.input) < 2 or node.input[1] not in inits:
            continue
        tensor = inits[node.input[1]]
        if tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) < 2:
            continue
        if node.op_type == "Gemm":
            axis = 0 if any(a.name == "transB" and a.i for a in node.attribute) else 1
        else:
            axis = WEIGHT_OPS[node.op_type]
        refs.append(WeightRef(node.name or node.output[0], node.input[1], axis))
    return refs


def _arrays(model, refs: list[WeightRef]) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    return {r.initializer: numpy_helper.to_array(inits[r.initializer]).copy() for r in refs}


def _replace(model, arrays: dict[str, np.ndarray]) -> None:
    from onnx import numpy_helper

    for tensor in model.graph.initializer:
        if tensor.name in arrays:
            tensor.CopyFrom(numpy_helper.from_array(arrays[tensor.name].astype(np.float32), tensor.name))


def prune_initializers(model, refs: list[WeightRef], sparsity: float) -> str:
    """Zero the smallest-magnitude ``sparsity`` share of all weights (one global threshold), in place."""
    arrays = _arrays(model, refs)
    magnitudes = np.concatenate([np.abs(a).reshape(-1) for a in arrays.values()])
    k = int(round(sparsity * magnitudes.size))
    if k > 0:
        threshold = np.partition(magnitudes, k - 1)[k - 1]
        for name, array in arrays.items():
            array[np.abs(array) <= threshold] = 0.0
    _replace(model, arrays)
    return f"one-shot global magnitude pruning of the weight initializers to {sparsity:.0%} zeros (no fine-tune: no training code)"


def quantize_initializers(model, refs: list[WeightRef], bits: int) -> tuple[str, dict[str, tuple[np.ndarray, int]]]:
    """Snap weights to a per-output-channel symmetric k-bit grid, in place; returns the scales for storage."""
    arrays, scales = _arrays(model, refs), {}
    for ref in refs:
        weight = torch.from_numpy(np.moveaxis(arrays[ref.initializer], ref.out_axis, 0).copy())
        mask = weight != 0
        scale = best_scale(weight, bits)
        snapped = quantize_tensor(weight, scale, bits) * mask  # zeros stay zeros
        arrays[ref.initializer] = np.moveaxis(snapped.numpy(), 0, ref.out_axis)
        scales[ref.initializer] = (scale.numpy(), ref.out_axis)
    _replace(model, arrays)
    return f"weights on a per-channel {bits}-bit grid (post-training rounding, no fine-tune)", scales


def pack_initializers(model, refs: list[WeightRef], bits: int, scales: dict | None) -> StorageResult:
    """The storage file for the ONNX model's weights, in the same format as the samples'."""
    arrays = _arrays(model, refs)
    holder = nn.Sequential(*[
        as_layer(np.moveaxis(arrays[r.initializer], r.out_axis, 0), scales[r.initializer][0] if scales else None,
                  bits if scales else None)
        for r in refs
    ])
    return pack(holder, 16 if bits == 16 else 32)


def compress_onnx(onnx_bytes: bytes, point: CompressionPoint):
    """The uploaded model with the point's file-level steps applied; (model, notes, refs, scales)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    refs = weight_refs(model)
    if not refs and (point.sparsity > 0 or point.bits <= 8):
        raise InvalidParameterError(
            "This model has no float convolution or matrix-multiply weights to prune or quantize (is it already "
            "quantized?); upload the float model, or use a student."
        )
    notes, scales = [], None
    if point.sparsity > 0:
        notes.append(prune_initializers(model, refs, point.sparsity))
    if point.bits <= 8:
        note, scales = quantize_initializers(model, refs, point.bits)
        notes.append(note)
    elif point.bits == 16:
        notes.append("runs as fp16 where onnxruntime's converter applies")
    return model, notes, refs, scales


def build_onnx_artifact(
    onnx_bytes: bytes, data: Dataset, point: CompressionPoint, out_path: Path, *, seed: int = 0,
    progress: Progress = no_progress,
) -> Artifact:
    """Like ``pipeline.build_artifact``, for an uploaded ONNX model at full width (``data``: the user's)."""
    import onnx

    from ecocompress.measure.opcounts import count_operations

    progress("editing the ONNX weights", 0.3)
    model, notes, refs, scales = compress_onnx(onnx_bytes, point)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        work = Path(tmp)
        fp32 = work / "fp32.onnx"
        onnx.save(model, str(fp32))
        counts = count_operations(fp32)
        progress("choosing the fastest runnable format (timed side by side)", 0.55)
        stored = pack_initializers(model, refs, point.bits, scales)
        choice, storage_path = choose_and_store(fp32, point.bits, data, seed, stored, work, out_path)
    return Artifact(
        onnx_path=out_path,
        runtime_format=choice.runtime_format,
        runtime_reason=choice.reason,
        params=counts.weights,
        storage_path=storage_path,
        storage_bytes=stored.size_bytes,
        storage_format=stored.description,
        macs=counts.macs,
        effective_macs=counts.nonzero_macs,
        notes=tuple(notes),
    )


def single_layer_variants(onnx_path: Path | str, sparsity: float, bits: int) -> Iterator[tuple[str, str, bytes]]:
    """(node, 'prune' or 'quantize', model bytes) with only that layer pruned to ``sparsity`` (magnitude, no
    fine-tune) or only that layer's weights on a ``bits`` grid; a knob left off yields nothing for it."""
    import onnx

    original = onnx.load(str(onnx_path), load_external_data=False)
    for ref in weight_refs(original):
        for kind, active in (("prune", sparsity > 0), ("quantize", bits < 32)):
            if not active:
                continue
            model = onnx.ModelProto()
            model.CopyFrom(original)
            if kind == "prune":
                prune_initializers(model, [ref], sparsity)
            else:
                quantize_initializers(model, [ref], bits)
            yield ref.node, kind, model.SerializeToString()
