"""Where the energy goes, layer by layer, in one ONNX model: counts, modelled energy, measured time, variants.

Every weighted layer (Conv, Gemm, MatMul with a weight) of the model gets its parameters and
multiply-accumulates (``opcounts``), its modelled energy per hardware profile (``energy_model``, one
layer at a time), and its share of onnxruntime's kernel time, read from onnxruntime's own profiler
while the model runs at the scenario's batch size. (``compressor.onnx_pipeline.single_layer_variants``
makes the one-layer variants whose quality the service measures as each layer's sensitivity.)
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecocompress.measure.energy_model import PROFILES, modelled_energy
from ecocompress.measure.opcounts import OpCounts, count_operations

PROFILE_RUNS = 20  # profiled calls after a warm-up: enough for stable shares on these small models


@dataclass(frozen=True)
class LayerCost:
    """One weighted layer: what it holds and what it costs (modelled per profile, measured time share)."""

    name: str  # the weight's name without '.weight' (the torch module path), else the node's name
    node: str
    op_type: str
    params: int
    macs: int
    modelled_energy_pj: dict[str, float]
    time_share: float  # share of all onnxruntime kernel time in a profiled run (0-1)


def layer_name(node: str, weight: str | None) -> str:
    if weight and weight.endswith(".weight"):
        return weight[: -len(".weight")]
    return weight or node


def _weights_by_node(model) -> dict[str, str]:
    from ecocompress.measure.opcounts import WEIGHT_INPUT

    return {node.name: node.input[WEIGHT_INPUT[node.op_type]] for node in model.graph.node
            if node.op_type in WEIGHT_INPUT and len(node.input) > WEIGHT_INPUT[node.op_type]}


def kernel_times(onnx_path: Path | str, x: np.ndarray, batch: int, threads: int = 1) -> dict[str, float]:
    """Microseconds of kernel time per node over ``PROFILE_RUNS`` calls at ``batch``, from onnxruntime's profiler."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="ecocompress-profile-") as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # keep node names
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        feed = {name: np.ascontiguousarray(x[:batch])}
        for _ in range(3):
            session.run(None, feed)
        for _ in range(PROFILE_RUNS):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[str, float] = defaultdict(float)
    for event in events[-100_000:]:
        if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time"):
            times[event["name"][: -len("_kernel_time")]] += float(event.get("dur", 0))
    return dict(times)


def layer_costs(onnx_path: Path | str, x: np.ndarray, batch: int, bits: int = 32, threads: int = 1) -> list[LayerCost]:
    """Every weighted layer of the model at ``onnx_path``, in graph order, with its costs."""
    import onnx

    counts = count_operations(onnx_path)
    weights = _weights_by_node(onnx.load(str(onnx_path), load_external_data=False))
    times = kernel_times(onnx_path, x, batch, threads)
    total_time = sum(times.values()) or 1.0
    rows = []
    for layer in counts.layers:
        modelled = {profile: modelled_energy(OpCounts((layer,)), bits, profile).total_pj for profile in PROFILES}
        rows.append(LayerCost(
            name=layer_name(layer.name, weights.get(layer.name)), node=layer.name, op_type=layer.op_type,
            params=layer.weights, macs=layer.macs, modelled_energy_pj=modelled,
            time_share=times.get(layer.name, 0.0) / total_time,
        ))
    return rows


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank); nan for fewer than 3 pairs."""
    if len(a) < 3 or len(a) != len(b):
        return float("nan")

    def ranks(values: list[float]) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        result = np.empty(len(values))
        result[order] = np.arange(len(values), dtype=float)
        for value in set(values):  # mean rank for ties
            tied = np.array(values) == value
            result[tied] = result[tied].mean()
        return result

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
