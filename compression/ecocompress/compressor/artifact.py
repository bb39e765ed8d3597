"""What every build pipeline produces, and how its files reach their final names.

Shared by the torch pipeline (``compressor.pipeline``), the uploaded-ONNX pipeline (``compressor.onnx_pipeline``)
and the text model's pipeline, so none of them imports another.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ecocompress.compressor.export import label_onnx
from ecocompress.compressor.runtime_choice import RuntimeChoice, choose_runtime
from ecocompress.compressor.storage import StorageResult
from ecocompress.compressor.training import split_validation
from ecocompress.core.data import Dataset
from ecocompress.measure.locks import machine_measurement


@dataclass(frozen=True)
class Artifact:
    """The compressed model as we hand it out, how it runs, and how small it stores."""

    onnx_path: Path
    runtime_format: str
    runtime_reason: str
    params: int
    storage_path: Path
    storage_bytes: int
    storage_format: str
    macs: int
    effective_macs: int
    notes: tuple[str, ...]



def choose_and_store(
    fp32: Path, bits: int, data: Dataset, seed: int, stored: StorageResult, work: Path, out_path: Path,
    metadata: dict[str, str] | None = None,
) -> tuple[RuntimeChoice, Path]:
    """Pick the runnable format by timing, label it with ``metadata``, then move it and the storage file into
    place (complete files only)."""
    _, check_idx = split_validation(len(data.x_train), seed=seed)
    with machine_measurement():  # timing the candidates must not overlap another process's timing
        choice = choose_runtime(fp32, bits, data.x_train, data.x_train[check_idx], data.y_train[check_idx], work)
    if metadata:
        label_onnx(choice.path, metadata)
    return choice, move_into_place(choice.path, stored, work, out_path)


def move_into_place(runnable: Path, stored: StorageResult, work: Path, out_path: Path) -> Path:
    """Write the storage file, then move it and the runnable ONNX file to their final names (complete files only)."""
    storage_path = out_path.with_suffix(".ecz")
    (work / "storage.ecz").write_bytes(stored.data)
    shutil.move(str(work / "storage.ecz"), storage_path)
    shutil.move(str(runnable), out_path)
    return storage_path
