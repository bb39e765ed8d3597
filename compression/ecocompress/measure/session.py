"""Measure an ONNX artifact in onnxruntime: accuracy (with interval), size, latency, energy.

Everything runs on the artifact we hand out, in onnxruntime, with a fixed thread count that
is recorded next to the figures.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort


ORT_THREADS = 1
LARGE_BATCH = 256
Z_95 = 1.959963984540054


def open_session(path: Path, threads: int = ORT_THREADS) -> ort.InferenceSession:
    """An onnxruntime CPU session with a fixed, sequential thread set-up (recorded in results)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_logits(session: ort.InferenceSession, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Logits for all of ``x``, in batches."""
    name = session.get_inputs()[0].name
    return np.concatenate(
        [session.run(None, {name: x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)]
    )


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (better than normal near 0 or 1)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class AccuracyResult:
    """Top-1 accuracy with its 95% Wilson interval; ``cosine``/``top1`` are filled by embedding models only."""

    accuracy: float
    ci_low: float
    ci_high: float
    correct: int
    n: int
    cosine: float | None = None
    top1: float | None = None


def measure_accuracy(session: ort.InferenceSession, x: np.ndarray, y: np.ndarray) -> AccuracyResult:
    """Top-1 accuracy on a labelled set with its 95% Wilson interval."""
    return accuracy_of(run_logits(session, x), y)


def accuracy_of(logits: np.ndarray, y: np.ndarray) -> AccuracyResult:
    """Top-1 accuracy of outputs already computed, with its 95% Wilson interval.

    Scores that are NaN or infinite are not a classifier's answers (argmax would pick a class anyway): the
    measurement stops with a sentence, and nothing is stored.
    """
    from ecocompress.core.errors import MeasurementError

    bad = int((~np.isfinite(logits)).any(axis=1).sum())
    if bad:
        raise MeasurementError(f"The model returned NaN or infinite scores for {bad:,} of {len(logits):,} test examples, "
                               "so its accuracy cannot be measured; nothing was stored. Check the model and the data's scale.")
    correct = int((logits.argmax(axis=1) == y).sum())
    low, high = wilson_interval(correct, len(y))
    return AccuracyResult(correct / len(y), low, high, correct, len(y))


@dataclass(frozen=True)
class LatencyResult:
    """Per-inference latency in milliseconds (batch 1: per call; large batch: per item)."""

    batch1_median_ms: float
    batch1_p90_ms: float
    large_batch_median_ms: float
    large_batch_p90_ms: float
    large_batch_size: int


def _timed_calls(call: Callable[[], Any], *, min_seconds: float, min_calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def measure_latency(
    session: ort.InferenceSession,
    x: np.ndarray,
    *,
    large_batch: int = LARGE_BATCH,
    min_seconds: float = 0.3,
) -> LatencyResult:
    """Median and p90 latency after warm-up, at batch 1 and per item at ``large_batch``."""
    name = session.get_inputs()[0].name
    one = np.ascontiguousarray(x[:1])
    big = batch_of(x, large_batch)
    t1 = _timed_calls(lambda: session.run(None, {name: one}), min_seconds=min_seconds, min_calls=50, warmup=20)
    tb = _timed_calls(lambda: session.run(None, {name: big}), min_seconds=min_seconds, min_calls=10, warmup=3)
    per_item = [t / large_batch for t in tb]
    return LatencyResult(
        batch1_median_ms=statistics.median(t1) * 1e3,
        batch1_p90_ms=_p90(t1) * 1e3,
        large_batch_median_ms=statistics.median(per_item) * 1e3,
        large_batch_p90_ms=_p90(per_item) * 1e3,
        large_batch_size=large_batch,
    )


def batch_of(x: np.ndarray, size: int) -> np.ndarray:
    """A contiguous batch of exactly ``size`` examples (repeating ``x`` if it is shorter)."""
    reps = -(-size // len(x))
    return np.ascontiguousarray(np.concatenate([x] * reps)[:size]) if reps > 1 else np.ascontiguousarray(x[:size])


def session_workload(session: ort.InferenceSession, x: np.ndarray, batch_size: int) -> Callable[[], int]:
    """A warmed-up callable that runs one fixed batch and returns how many inferences it did.

    The batch is a copy of its own, so a workload opened afresh also gets fresh input buffers.
    """
    name = session.get_inputs()[0].name
    batch = np.array(batch_of(x, batch_size), copy=True)
    for _ in range(3):
        session.run(None, {name: batch})

    def workload() -> int:
        session.run(None, {name: batch})
        return batch_size

    return workload


def workload_opener(path: Path, x: np.ndarray, batch_size: int, threads: int = ORT_THREADS) -> Callable[[], Callable[[], int]]:
    """Opens a fresh session of ``path`` (and fresh buffers) each call: what ``measure.paired`` runs every pair in."""
    return lambda: session_workload(open_session(path, threads), x, batch_size)
