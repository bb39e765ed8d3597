"""Shared by the benchmarks: time and meter several ONNX artifacts side by side, interleaved.

Every repeat runs each variant's latency measurement and one CodeCarbon energy window in
turn (A, B, C, A, B, C, ...), so machine drift (shared cores, other load) hits all variants
alike and the ratios between them are fair even when absolute numbers wander.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.measure.energy import measure_window, warm_up_codecarbon  # noqa: E402
from ecocompress.measure.session import measure_latency, open_session, session_workload  # noqa: E402

BATCH = 256


@dataclass
class Timings:
    lat1_ms: list[float] = field(default_factory=list)
    latb_ms: list[float] = field(default_factory=list)
    wh_per_1k: list[float] = field(default_factory=list)
    method: str = ""

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))

    def cv(self, name: str) -> float:
        values = getattr(self, name)
        return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def side_by_side(paths: dict[str, Path], x: np.ndarray, *, repeats: int = 5, window: float = 2.0) -> dict[str, Timings]:
    """Interleaved latency (batch 1 and 256) and energy windows for each artifact."""
    warm_up_codecarbon()
    sessions = {label: open_session(path) for label, path in paths.items()}
    workloads = {label: session_workload(s, x, BATCH) for label, s in sessions.items()}
    out = {label: Timings() for label in paths}
    for _ in range(repeats):
        for label, session in sessions.items():
            lat = measure_latency(session, x, large_batch=BATCH, min_seconds=0.3)
            out[label].lat1_ms.append(lat.batch1_median_ms)
            out[label].latb_ms.append(lat.large_batch_median_ms)
            win, method = measure_window(workloads[label], min_seconds=window, min_inferences=4 * BATCH)
            out[label].wh_per_1k.append(win.wh_per_1k)
            out[label].method = method.description
    return out
