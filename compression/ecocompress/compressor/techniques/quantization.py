"""8-bit static quantization through onnxruntime's own tool (QDQ, per-channel weights).

Calibration uses the model's training data in equal-size batches: onnxruntime's histogram
calibrators crash on a short last batch, and equal batches keep MinMax statistics comparable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

CALIBRATION_BATCH = 64
CALIBRATION_BATCHES = 16


def calibration_examples(available: int, batch_size: int = CALIBRATION_BATCH, batches: int = CALIBRATION_BATCHES) -> int:
    """How many of ``available`` examples calibration reads: whole batches, at most ``batches`` of them (a bound,
    so a large training file costs no more than a small one)."""
    return min(batches, available // batch_size) * batch_size


class EqualBatchReader(CalibrationDataReader):
    """Feeds ``batches`` batches of exactly ``batch_size`` examples, drawn with a fixed seed."""

    def __init__(self, input_name: str, x: np.ndarray, *, batch_size: int, batches: int, seed: int = 0) -> None:
        usable = calibration_examples(len(x), batch_size, batches) // batch_size
        if usable < 1:
            raise ValueError(f"need at least {batch_size} calibration examples, got {len(x)}")
        order = np.random.default_rng(seed).permutation(len(x))[: usable * batch_size]
        self._batches = iter(
            [{input_name: np.ascontiguousarray(x[order[i : i + batch_size]])} for i in range(0, len(order), batch_size)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_static_int8(
    fp32_path: Path,
    out_path: Path,
    calibration_x: np.ndarray,
    *,
    input_name: str,
    per_channel: bool = True,
    batch_size: int = CALIBRATION_BATCH,
    batches: int = CALIBRATION_BATCHES,
    exclude: list[str] | None = None,
) -> Path:
    """Write a static QDQ int8 model (int8 weights per channel, int8 activations, MinMax calibration)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            EqualBatchReader(input_name, calibration_x, batch_size=batch_size, batches=batches),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=exclude or [],
        )
    return out_path
