"""The per-layer view: where a model's energy goes, and which layers can be squeezed.

For the uncompressed model of a measured series: per weighted layer, its parameters and
multiply-accumulates, its modelled energy per hardware profile, its measured share of onnxruntime's
kernel time at the scenario's batch size, and its sensitivity: the change in the model's quality
figure (points) when only that layer is pruned to the chosen sparsity, or only that layer's weights
are put on the chosen bit grid (post-training, no fine-tune). Computed in the limited worker
(it runs the model), once per (model, knobs, series, code): later requests read a JSON file.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecocompress.core.config import artifacts_dir
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.provenance import code_version
from ecocompress.core.records import MeasureSettings
from ecocompress.core.settings import measure_defaults
from ecocompress.models.base import ModelKind
from ecocompress.service import api
from ecocompress.service.store import ResultsStore

if TYPE_CHECKING:  # torch loads only when something must be computed
    from ecocompress.compressor.allocation import Allocation
    from ecocompress.compressor.width_allocation import WidthAllocation

DEFAULT_SPARSITY, DEFAULT_BITS = 0.5, 4  # the knobs a sensitivity is measured at when the point leaves them off


@dataclass(frozen=True)
class LayerRow:
    name: str
    op_type: str
    params: int
    macs: int
    modelled_energy_pj: dict[str, float]
    time_share: float
    sensitivity_points: dict[str, float]  # 'prune' / 'quantize' -> change in points (negative = worse)


@dataclass(frozen=True)
class LayerView:
    model: str
    sparsity: float
    bits: int
    scenario: str
    batch: int
    quality_metric: str
    baseline_quality: float
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)

    @property
    def rank_correlation(self) -> float:
        """Spearman correlation of measured time share and modelled dense-CPU energy across layers."""
        from ecocompress.measure.layers import rank_correlation

        return rank_correlation([r.time_share for r in self.rows], [r.modelled_energy_pj["dense_cpu"] for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows], "rank_correlation_time_vs_modelled": self.rank_correlation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerView":
        fields = {k: v for k, v in data.items() if k not in ("rows", "rank_correlation_time_vs_modelled")}
        return cls(**fields, rows=tuple(LayerRow(**r) for r in data["rows"]))


def knobs(point: CompressionPoint | None) -> tuple[float, int]:
    """The sparsity and bits the sensitivities use: the point's, or the defaults for a knob it leaves off."""
    sparsity = point.sparsity if point is not None and point.sparsity > 0 else DEFAULT_SPARSITY
    bits = point.bits if point is not None and point.bits < 32 else DEFAULT_BITS
    return sparsity, bits


def _cache_path(spec: ModelKind, sparsity: float, bits: int, settings: MeasureSettings, batch: int) -> Path:
    key = "|".join([spec.content_hash, f"{sparsity:g}", str(bits), settings.series(batch), code_version()])
    return artifacts_dir() / spec.name / f"layers-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def cached_layer_view(model: str | ModelKind, point: CompressionPoint | None = None,
                      settings: MeasureSettings | None = None) -> LayerView | None:
    """The view computed before for these knobs and series, or None (never computes)."""
    spec, settings = api.resolve(model), settings or measure_defaults()
    path = _cache_path(spec, *knobs(point), settings, spec.measure_batch(settings))
    return LayerView.from_dict(json.loads(path.read_text())) if path.is_file() else None


def layer_view(
    model: str | ModelKind, point: CompressionPoint | None = None, settings: MeasureSettings | None = None, *,
    store: ResultsStore | None = None, session: str | None = None, progress: Progress = no_progress,
) -> LayerView:
    """The per-layer view of ``model``'s uncompressed artifact, with sensitivities at ``point``'s knobs."""
    spec, settings = api.resolve(model), settings or measure_defaults()
    found = cached_layer_view(spec, point, settings)
    if found is not None:
        return found
    sparsity, bits = knobs(point)
    batch = spec.measure_batch(settings)
    baseline = api.measure_point(spec, CompressionPoint(), settings, store=store, session=session, progress=progress)
    from ecocompress.service.compute_queue import compute_queue

    view = compute_queue().run(
        f"layers|{spec.content_hash}|{sparsity}|{bits}|{settings.series(batch)}", f"per-layer view of {spec.name}",
        lambda report: _compute(spec, Path(baseline.onnx_path), sparsity, bits, settings, report),
        session=session or "cli", progress=progress,
    )
    path = _cache_path(spec, sparsity, bits, settings, batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(view.to_dict(), indent=1))
    return view


def _compute(spec: ModelKind, onnx_path: Path, sparsity: float, bits: int, settings: MeasureSettings,
             progress: Progress) -> LayerView:
    """Costs, time shares and sensitivities, in the limited worker process (it runs the model)."""
    from ecocompress.sandbox.limits import inside_worker

    if spec.runs_in_worker and not inside_worker():
        from ecocompress.service.compute_queue import run_in_worker

        return run_in_worker(_compute, spec, onnx_path, sparsity, bits, settings,
                             what=f"The per-layer view of {spec.name}", progress=progress)
    from ecocompress.compressor.onnx_pipeline import single_layer_variants
    from ecocompress.measure.layers import layer_costs
    from ecocompress.measure.session import open_session

    batch = spec.measure_batch(settings)
    progress("profiling every layer in onnxruntime", 0.1)
    costs = layer_costs(onnx_path, spec.dataset().x_test, batch, threads=settings.ort_threads)
    base = spec.evaluate(open_session(onnx_path, settings.ort_threads)).accuracy
    sensitivity: dict[str, dict[str, float]] = {cost.node: {} for cost in costs}
    variants = list(single_layer_variants(onnx_path, sparsity, bits))
    with tempfile.TemporaryDirectory(prefix="ecocompress-layers-") as tmp:
        for index, (node, kind, model_bytes) in enumerate(variants):
            progress(f"{kind} only layer {index // 2 + 1}: measuring the change in quality", 0.2 + 0.75 * index / max(1, len(variants)))
            variant = Path(tmp) / f"variant-{index}.onnx"
            variant.write_bytes(model_bytes)
            quality = spec.evaluate(open_session(variant, settings.ort_threads)).accuracy
            sensitivity.setdefault(node, {})[kind] = (quality - base) * 100.0
    rows = tuple(
        LayerRow(cost.name, cost.op_type, cost.params, cost.macs, cost.modelled_energy_pj, cost.time_share,
                 sensitivity.get(cost.node, {}))
        for cost in costs
    )
    return LayerView(spec.name, sparsity, bits, settings.scenario, batch, spec.quality_metric, base, rows)


def _allocation_path(spec: ModelKind, objective: str, max_accuracy_drop: float, seed: int) -> Path:
    key = "|".join([spec.content_hash, objective, f"{max_accuracy_drop:g}", str(seed), code_version()])
    return artifacts_dir() / spec.name / f"allocation-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


# size: per-layer sparsity and bits (compressor.allocation); energy: per-layer structured pruning (compressor.width_allocation),
# since unstructured zeros and k-bit codes cost a CPU's dense kernels the same time as any weight
OBJECTIVES = ("size", "energy")


def _checked(model: str | ModelKind, objective: str, max_accuracy_drop: float) -> ModelKind:
    from ecocompress.core.choice import checked_budget
    from ecocompress.core.errors import invalid_parameter

    spec = api.resolve(model)
    if not spec.per_layer_allocation:
        raise invalid_parameter("per_layer", f"'off' for {spec.name} (per-layer settings need the model's training code)",
                                "auto")
    if objective not in OBJECTIVES:
        raise invalid_parameter("objective", f"one of {{{', '.join(OBJECTIVES)}}}", objective)
    checked_budget("max_accuracy_drop", max_accuracy_drop)
    return spec


def cached_allocation(model: str | ModelKind, *, objective: str = "size", max_accuracy_drop: float,
                      seed: int = 0) -> "Allocation | WidthAllocation | None":
    """The per-layer choice made before for this model, objective, budget and code, or None (never computes)."""
    path = _allocation_path(_checked(model, objective, max_accuracy_drop), objective, max_accuracy_drop, seed)
    return _loaded(json.loads(path.read_text())) if path.is_file() else None


def _loaded(data: dict[str, Any]) -> "Allocation | WidthAllocation":
    if data["objective"] == "energy":
        from ecocompress.compressor.width_allocation import WidthAllocation

        return WidthAllocation.from_dict(data)
    from ecocompress.compressor.allocation import Allocation

    return Allocation.from_dict(data)


def allocate_point(
    model: str | ModelKind, *, objective: str = "size", max_accuracy_drop: float, seed: int = 0,
    session: str | None = None, progress: Progress = no_progress,
) -> tuple[CompressionPoint, "Allocation | WidthAllocation"]:
    """The per-layer point ``--per-layer auto`` builds, chosen once per model, objective, budget and code: for size
    per-layer sparsity and bits (``compressor.allocation``), for energy per-layer widths (``compressor.width_allocation``).

    The choice runs the model (sensitivities, short fine-tunes): a job in the compute queue, in the limited worker.
    """
    spec = _checked(model, objective, max_accuracy_drop)
    found = cached_allocation(spec, objective=objective, max_accuracy_drop=max_accuracy_drop, seed=seed)
    if found is not None:
        return found.point(), found
    from ecocompress.service.compute_queue import compute_queue

    allocation = compute_queue().run(
        f"allocation|{spec.content_hash}|{objective}|{max_accuracy_drop:g}|{seed}",
        f"choosing per-layer settings for {spec.name}",
        lambda report: _allocate(spec, objective, float(max_accuracy_drop), seed, progress=report),
        session=session or "cli", progress=progress,
    )
    path = _allocation_path(spec, objective, max_accuracy_drop, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(allocation.to_dict(), indent=1))
    return allocation.point(), allocation


def _allocate(spec: ModelKind, objective: str, max_accuracy_drop: float, seed: int, *, progress: Progress):
    """Sensitivities and the choice, in the limited worker when the kind's jobs run there (it runs the model)."""
    from ecocompress.sandbox.limits import inside_worker

    if spec.runs_in_worker and not inside_worker():
        from ecocompress.service.compute_queue import run_in_worker

        return run_in_worker(_allocate, spec, objective, max_accuracy_drop, seed,
                             what=f"Choosing per-layer settings for {spec.name}", progress=progress)
    data = spec.dataset()
    if objective == "energy":
        from ecocompress.compressor.width_allocation import allocate_widths

        return allocate_widths(spec.load(), data.x_train, data.y_train, data.input_shape,
                               max_accuracy_drop=max_accuracy_drop, tune=spec.finetune_config(seed), seed=seed,
                               progress=progress)
    from ecocompress.compressor.allocation import allocate

    return allocate(spec.load(), data.x_train, data.y_train, max_accuracy_drop=max_accuracy_drop,
                    tune=spec.finetune_config(seed), objective=objective, seed=seed, progress=progress)
