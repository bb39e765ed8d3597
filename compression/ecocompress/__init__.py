"""ecocompress: measure what model compression buys in energy and costs in accuracy.

The backend (it never imports streamlit; the pages are thin views over it). Layers, lowest first,
each importing only from those below it (``tests/test_layers.py`` keeps it so):

    core     records, errors, config, units, grids, the pure rules (Pareto, objectives, recommendation)
    sandbox  child processes with memory, CPU and wall-clock limits (uploads' checks, compute jobs)
    measure  onnxruntime sessions and timing, CodeCarbon energy, operation counts, modelled energy
    compressor  the pipelines (torch, uploaded ONNX), techniques, storage, runtime choice, export
    models   the model-kind interface and its kinds: samples, your PyTorch model, uploads, the text model
    service  measure_point / compress (api), compute queue, jobs, sweep, search, results store
    review   charts, projection, report, artifact export
    cli      the ``ecocompress`` command

The common entry points are importable from here; they load lazily, so ``import ecocompress`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CompressionPoint": "ecocompress.core.points",
    "MeasureSettings": "ecocompress.core.records",
    "Measurement": "ecocompress.core.records",
    "recommend": "ecocompress.core.choice",
    "compress": "ecocompress.service.api",
    "measure_point": "ecocompress.service.api",
    "measured_points": "ecocompress.service.api",
    "get_model": "ecocompress.models.registry",
    "register_model": "ecocompress.models.registry",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ecocompress' has no attribute {name!r}")
