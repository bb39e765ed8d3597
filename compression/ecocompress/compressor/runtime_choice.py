"""Choose the runnable format by measuring, not by assumption.

For a compressed torch model we export fp32 ONNX, derive the lower-precision formats that
apply (static QDQ int8, the same with the first layer kept in fp32, dynamic int8, weight-only int4/int8
matrix multiplies, fp16),
check each reproduces the fp32 run's accuracy on held-out training data, time the survivors
side by side at batch 256 and keep the fastest. On CPUs, int8 is sometimes several times
*slower* than fp32 (dynamic int8 convolutions, a one-channel first convolution), so the
answer differs per model; the reason is recorded with the point.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from ecocompress.compressor.export import INPUT_NAME
from ecocompress.measure.session import LARGE_BATCH, batch_of, open_session, run_logits
from ecocompress.compressor.techniques.quantization import calibration_examples, quantize_static_int8
from ecocompress.compressor.techniques.weight_only import has_constant_matmuls, weight_only

CHECK_EXAMPLES = 2000
TIMING_ROUNDS = 2
TIMING_CALLS = 8


@dataclass(frozen=True)
class RuntimeChoice:
    path: Path
    runtime_format: str
    reason: str


def _input_name(graph: onnx.GraphProto) -> str:
    """The graph's data input (uploaded models name theirs as they like)."""
    initializers = {t.name for t in graph.initializer}
    return next((i.name for i in graph.input if i.name not in initializers), INPUT_NAME)


def _first_weight_node(graph: onnx.GraphProto) -> str | None:
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            return node.name
    return None


def candidates(
    fp32_path: Path, bits: int, calibration_x: np.ndarray, workdir: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """Runnable variants worth trying for a point stored at ``bits``, and those that failed to build."""
    builders: dict[str, Callable[[], Path]] = {}
    if bits == 16:
        def fp16() -> Path:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True), str(workdir / "fp16.onnx"))
            return workdir / "fp16.onnx"

        builders["onnxruntime fp16"] = fp16
    if bits <= 8:
        graph = onnx.load(str(fp32_path)).graph  # read once for the three questions below
        input_name = _input_name(graph)
        builders["onnxruntime static QDQ int8"] = lambda: quantize_static_int8(
            fp32_path, workdir / "static.onnx", calibration_x, input_name=input_name
        )
        first = _first_weight_node(graph)
        if first:
            builders["onnxruntime static QDQ int8, first layer fp32"] = lambda: quantize_static_int8(
                fp32_path, workdir / "static_first_fp32.onnx", calibration_x, input_name=input_name, exclude=[first]
            )

        def dynamic() -> Path:
            quantize_dynamic(str(fp32_path), str(workdir / "dynamic.onnx"), weight_type=QuantType.QInt8, per_channel=True)
            return workdir / "dynamic.onnx"

        builders["onnxruntime dynamic int8"] = dynamic
        if has_constant_matmuls(graph):
            width = 4 if bits <= 4 else 8  # the narrowest block width that holds the point's weights
            builders[f"onnxruntime weight-only int{width}"] = lambda: weight_only(
                fp32_path, workdir / f"weight_only_{width}.onnx", width)
    built, failed = {"onnxruntime fp32": fp32_path}, {}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's quantizer logs advice on the root logger
    try:
        for label, build in builders.items():
            try:
                built[label] = build()
            except Exception as exc:  # a format that cannot be built for this graph is simply not a candidate
                failed[label] = type(exc).__name__  # never the text: it can quote an upload's node names
    finally:
        root.setLevel(level)
    return built, failed


def _median_batch_seconds(session, batch: np.ndarray, calls: int = TIMING_CALLS) -> float:
    name = session.get_inputs()[0].name
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        session.run(None, {name: batch})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def choose_runtime(
    fp32_path: Path,
    bits: int,
    calibration_x: np.ndarray,
    check_x: np.ndarray,
    check_y: np.ndarray,
    workdir: Path,
) -> RuntimeChoice:
    """The fastest variant whose accuracy on ``check_x`` is within tolerance of the fp32 run.

    Every variant is timed once first: one more than twice as slow as fp32 (which is always faithful) cannot
    win, so it is neither checked for accuracy nor timed again (dynamic int8 convolutions on LeNet-5: 3.2x).
    """
    variants, failed = candidates(fp32_path, bits, calibration_x, workdir)
    check_x, check_y = check_x[:CHECK_EXAMPLES], check_y[:CHECK_EXAMPLES]
    tolerance = max(0.002, 1.0 / len(check_y))
    sessions = {label: open_session(path) for label, path in variants.items()}
    batch = batch_of(check_x, LARGE_BATCH)
    for session in sessions.values():  # warm-up
        _median_batch_seconds(session, batch, calls=2)
    timings = {label: [_median_batch_seconds(session, batch)] for label, session in sessions.items()}
    fp32_first = timings["onnxruntime fp32"][0]
    contenders = {k: s for k, s in sessions.items() if timings[k][0] <= 2 * fp32_first}
    accuracy = {k: float((run_logits(s, check_x).argmax(1) == check_y).mean()) for k, s in contenders.items()}
    reference = accuracy["onnxruntime fp32"]
    faithful = {k: s for k, s in contenders.items() if accuracy[k] >= reference - tolerance}
    for _ in range(1, TIMING_ROUNDS):  # interleaved so machine drift hits every variant alike
        for label, session in faithful.items():
            timings[label].append(_median_batch_seconds(session, batch))
    latency = {k: statistics.median(v) for k, v in timings.items()}
    best = min(faithful, key=latency.get)
    base = latency["onnxruntime fp32"]
    tried = ", ".join(
        f"{k.removeprefix('onnxruntime ')} rejected (held-out accuracy {accuracy[k]:.2%} vs {reference:.2%})"
        if k in accuracy and k not in faithful else f"{k.removeprefix('onnxruntime ')} {latency[k] / base:.2f}x"
        for k in variants
    )
    if failed:
        tried += "; could not build: " + ", ".join(f"{k.removeprefix('onnxruntime ')} ({v})" for k, v in failed.items())
    bounds = f"accuracy checked on {len(check_y):,} held-out training examples"
    if any("static" in k for k in variants):
        bounds = f"static int8 calibrated on {calibration_examples(len(calibration_x)):,} training examples; " + bounds
    reason = (f"fastest that keeps accuracy, timed side by side at batch {LARGE_BATCH} (latency vs fp32: {tried}; "
              f"{bounds})")
    return RuntimeChoice(variants[best], best, reason)
