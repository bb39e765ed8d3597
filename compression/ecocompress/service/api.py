"""The entry the pages and the CLI call: (model, point) -> a stored, honestly measured ``Measurement``.

``measure_point`` serves a point from the results store when the same model content, setting,
measurement settings and code version were measured before; otherwise the model's kind builds the
artifact, which is measured in onnxruntime (accuracy, size, latency, CodeCarbon energy) and stored.
``compress`` does the same for your own PyTorch model, without registering anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import hashlib
import threading
from collections import OrderedDict
import statistics
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.config import artifacts_dir
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.provenance import code_version, environment, hardware
from ecocompress.core.records import MeasureSettings, Measurement, on_baseline, pooled_baseline
from ecocompress.core.settings import measure_defaults
from ecocompress.core.units import slug
from ecocompress.models.base import ModelKind
from ecocompress.models.registry import get_model
from ecocompress.service.store import ResultsStore

if TYPE_CHECKING:  # torch and onnxruntime load only when something must be computed
    from torch import nn

    from ecocompress.compressor.artifact import Artifact
    from ecocompress.core.recipes import TrainConfig
    from ecocompress.measure.paired import PairedResult


def resolve(model: str | ModelKind) -> ModelKind:
    """A model kind from its name (the registry) or as given (your own model, unregistered)."""
    return model if isinstance(model, ModelKind) else get_model(model)


def cache_key(spec: ModelKind, point: CompressionPoint, settings: MeasureSettings) -> tuple[str, str, str, str]:
    return spec.content_hash, point.key(), settings.key(), code_version()


def artifact_path(spec: ModelKind, point: CompressionPoint, settings: MeasureSettings) -> Path:
    """Content-addressed artifact location: one file per (model, point, settings, code)."""
    key = hashlib.sha256("|".join(cache_key(spec, point, settings)).encode()).hexdigest()[:12]
    return artifacts_dir() / spec.name / f"{slug(point.label())}-{key}.onnx"


def _measure_artifact(
    spec: ModelKind,
    point: CompressionPoint,
    artifact: Artifact,
    settings: MeasureSettings,
    baseline: Measurement | None,
    progress: Progress,
) -> tuple[Measurement, PairedResult]:
    """Accuracy, size, latency and energy of ``artifact``; energy and latency paired with the baseline's
    artifact in one run (``measure.paired``), so every ratio compares like with like."""
    from ecocompress.measure.locks import machine_measurement
    from ecocompress.core.files import copy_file
    from ecocompress.measure.paired import ONE, measurable, measure_paired, null_floor
    from ecocompress.measure.session import measure_latency, open_session, workload_opener

    data = spec.dataset()
    batch = spec.measure_batch(settings)
    session = open_session(artifact.onnx_path, settings.ort_threads)
    base_session = open_session(baseline.onnx_path, settings.ort_threads) if baseline else None
    progress("measuring accuracy on the test set", 0.55)
    outputs = spec.test_outputs(session)
    acc = spec.score(outputs)
    changes = spec.prediction_changes(outputs, base_session) if base_session else None
    waiting = lambda: progress("waiting: another process on this machine is measuring", 0.6)  # noqa: E731
    with machine_measurement(waiting):  # latency and energy windows never overlap another process's timing
        progress("measuring latency", 0.65)
        latency = measure_latency(session, data.x_test, large_batch=spec.measure_batch(replace(settings, scenario="batch")))
        del session, base_session  # the energy pairs open sessions of their own: a large upload is held twice, not four times
        report = lambda step, f: progress(step, 0.7 + 0.25 * f)  # noqa: E731
        with tempfile.TemporaryDirectory() as tmp:
            # the baseline runs against a fresh copy of itself (A/A): what an identical model shows is the floor
            other = Path(baseline.onnx_path) if baseline else copy_file(artifact.onnx_path, Path(tmp) / "copy.onnx")
            paired = measure_paired(workload_opener(other, data.x_test, batch, settings.ort_threads),
                                    workload_opener(artifact.onnx_path, data.x_test, batch, settings.ort_threads),
                                    batch_size=batch, settings=settings, progress=report)
    floor = baseline.measurement_floor if baseline else null_floor(paired.energy_ratio)
    if not baseline:  # the baseline is the reference: ratio 1 by definition, its figure from its copy's windows (same bytes)
        paired = replace(paired, energy_ratio=ONE, latency_ratio=ONE, point_wh_per_1k=paired.baseline_wh_per_1k)
    size = artifact.onnx_path.stat().st_size
    base_acc = baseline.accuracy if baseline else acc.accuracy
    base_size = baseline.size_bytes if baseline else size
    base_storage = baseline.storage_bytes if baseline else artifact.storage_bytes
    theoretical = theoretical_speedup(artifact.macs, artifact.effective_macs, point.bits)
    speedup = 1.0 / paired.latency_ratio.value
    record = Measurement(
        model=spec.name,
        label=point.label(),
        **point.to_dict(),
        hardware=hardware(),
        runtime_format=artifact.runtime_format,
        runtime_reason=artifact.runtime_reason,
        technique_notes="; ".join(artifact.notes),
        # quality
        accuracy=acc.accuracy,
        accuracy_ci_low=acc.ci_low,
        accuracy_ci_high=acc.ci_high,
        test_examples=acc.n,
        baseline_accuracy=base_acc,
        accuracy_drop_points=(base_acc - acc.accuracy) * 100.0,
        accuracy_change_points=(acc.accuracy - base_acc) * 100.0,
        quality_metric=spec.quality_metric,
        fidelity_cosine=acc.cosine,
        fidelity_top1=acc.top1,
        prediction_changes=changes.to_dict() if changes else None,
        # size
        size_bytes=size,
        baseline_size_bytes=base_size,
        compression_ratio=base_size / size,
        storage_bytes=artifact.storage_bytes,
        baseline_storage_bytes=base_storage,
        storage_ratio=base_storage / artifact.storage_bytes,
        storage_format=artifact.storage_format,
        storage_path=str(artifact.storage_path),
        params=artifact.params,
        macs=artifact.macs,
        effective_macs=artifact.effective_macs,
        # latency: absolute at batch 1 and the large batch; the ratio from the paired windows
        latency_ms_batch1=latency.batch1_median_ms,
        latency_ms_batch1_p90=latency.batch1_p90_ms,
        latency_ms_per_item_large_batch=latency.large_batch_median_ms,
        latency_ms_per_item_large_batch_p90=latency.large_batch_p90_ms,
        large_batch_size=latency.large_batch_size,
        latency_ratio=paired.latency_ratio.value,
        latency_ratio_ci_low=paired.latency_ratio.low,
        latency_ratio_ci_high=paired.latency_ratio.high,
        speedup_measured=speedup,
        speedup_theoretical=theoretical,
        gain_only_on_paper=theoretical >= PAPER_GAIN_MIN and speedup < REAL_GAIN_MIN,
        # energy: ratio to the baseline in the same run; absolute = ratio x that baseline
        energy_wh_per_1k=paired.point_wh_per_1k.value,
        energy_wh_per_1k_ci_low=paired.point_wh_per_1k.low,
        energy_wh_per_1k_ci_high=paired.point_wh_per_1k.high,
        baseline_energy_wh_per_1k=paired.baseline_wh_per_1k.value,
        energy_ratio=paired.energy_ratio.value,
        energy_ratio_ci_low=paired.energy_ratio.low,
        energy_ratio_ci_high=paired.energy_ratio.high,
        energy_ratio_half_width=(paired.energy_ratio if baseline else paired.baseline_wh_per_1k).half_width,
        energy_difference_significant=bool(baseline) and measurable(paired.energy_ratio, floor),
        measurement_floor=floor,
        energy_pairs=paired.pairs,
        energy_pairs_discarded=paired.discarded,
        energy_seconds=paired.seconds,
        scenario=settings.scenario,
        series=settings.series(batch),
        energy_method=paired.method.description,
        energy_estimated=paired.method.estimated,
        energy_cpu_mode=paired.method.cpu_mode,
        cpu_power_w=paired.cpu_power_w,
        ram_power_w=paired.ram_power_w,
        energy_batch_size=batch,
        energy_window_s=paired.window_seconds,
        ort_threads=settings.ort_threads,
        # CO2e: a view of energy on a grid, filled in by in_region below and whenever it is shown
        emissions_g_per_1k=0.0,
        carbon_intensity_g_per_kwh=0.0,
        country=settings.country,
        # provenance
        onnx_path=str(artifact.onnx_path),
        model_hash=spec.content_hash,
        code_version=code_version(),
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return record.in_region(settings.country), paired


PAPER_GAIN_MIN = 1.5  # a theoretical speed-up at least this large...
REAL_GAIN_MIN = 1.1  # ...while the measured one stays below this: the gain exists only on paper


def theoretical_speedup(macs: int, effective_macs: int, bits: int) -> float:
    """Speed-up hardware could reach if it skipped zero weights and ran at ``bits``: MACs x bits."""
    return (macs * 32) / (max(1, effective_macs) * bits)


def lookup(
    model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings | None = None, *,
    store: ResultsStore | None = None,
) -> Measurement | None:
    """The stored measurement of this point, if it exists and its artifact is still on disk."""
    spec = resolve(model)
    settings = settings or measure_defaults()
    store = store or ResultsStore()
    record = _record(store.get(*cache_key(spec, point, settings)))
    if record is None or not Path(record.onnx_path).is_file():
        return None
    return on_series_baseline(replace(record, cached=True), spec, settings, store)


def _record(row: dict[str, Any] | None) -> Measurement | None:
    """A stored row as a ``Measurement``; None when it is missing or does not hold one (a damaged row is
    measured again, and the rows that decode are still served)."""
    try:
        return None if row is None else Measurement.from_dict(row)
    except (TypeError, ValueError, KeyError):
        return None


def measure_point(
    model: str | ModelKind,
    point: CompressionPoint,
    settings: MeasureSettings | None = None,
    *,
    store: ResultsStore | None = None,
    fresh: bool = False,
    out_dir: Path | None = None,
    progress: Progress = no_progress,
    session: str | None = None,
    wait_for_room: bool = False,
) -> Measurement:
    """Measure ``point`` on ``model`` (or serve it from the store) and return the record.

    New work goes through the process-wide compute queue: one job at a time, identical requests
    from several sessions computed once, ``session``'s jobs within its share (``wait_for_room``: wait for one of
    them to end instead of refusing, for background sweeps and searches). The uncompressed baseline is measured
    first (or served from the store) so every point carries its deltas. With ``out_dir`` the artifact is also
    copied there.
    """
    spec, settings, store = _prepare(model, point, settings, store)
    result = None if fresh else lookup(spec, point, settings, store=store)
    if result is None:
        from ecocompress.service.compute_queue import compute_queue

        session = session or f"call-{uuid.uuid4().hex[:12]}"
        result = compute_queue().run(
            _job_key(spec, point, settings, store, fresh), f"{point.label()} on {spec.name}",
            _job(spec, point, settings, store, fresh, owner=session), session=session, progress=progress,
            wait_for_room=wait_for_room,
        )
    if out_dir is not None:
        from ecocompress.core.files import copy_file

        target = Path(out_dir) / f"{spec.name}-{slug(point.label())}.onnx"
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(result.onnx_path, target)  # a link planted at the target is replaced, never followed
        result = Measurement.from_dict({**result.to_dict(), "onnx_path": str(target)})
    progress("done", 1.0)
    return result


def request_point(
    model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings | None = None, *, session: str,
    store: ResultsStore | None = None, first_answer: bool = False,
):
    """For pages: the stored ``Measurement`` at once, or a queue ``Ticket`` to follow (place in line, cancel).

    With ``first_answer`` the job first measures ``quick_version`` of the point and stores it (``lookup`` finds it
    while the job goes on), then the point itself: one job per setting, an answer in seconds.
    """
    from ecocompress.service.compute_queue import compute_queue

    spec, settings, store = _prepare(model, point, settings, store)
    found = lookup(spec, point, settings, store=store)
    if found is not None:
        return found
    return compute_queue().submit(
        _job_key(spec, point, settings, store, False), f"{point.label()} on {spec.name}",
        _job(spec, point, settings, store, False, first_answer=first_answer, owner=session), session=session,
    )


QUICK_ENERGY_BUDGET_S = 3.0  # the first answer's energy windows: two pairs, a wider interval, seconds not a minute
QUICK_ENERGY_WINDOW_S = 0.75  # shorter windows than a point's (1.25 s), still off CodeCarbon's 0.5 s sampling ticks


def quick_version(
    model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings | None = None
) -> tuple[CompressionPoint, MeasureSettings]:
    """The first answer for a new setting, measured before the full one: the post-training version of the
    point (no fine-tuning; the point itself when nothing trains) with two pairs of short energy windows.

    Same series as ``settings`` (the budget only widens the interval), so its figures compare with the chart's;
    pages show it labelled until the fine-tuned point replaces it.
    """
    spec = resolve(model)
    settings = settings or measure_defaults()
    quick_point = point.quick if spec.quick_versions else point
    return quick_point, replace(settings, repeats=2, energy_budget_s=min(settings.energy_budget_s, QUICK_ENERGY_BUDGET_S),
                                energy_window_s=min(settings.energy_window_s, QUICK_ENERGY_WINDOW_S))


def job_key(model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings | None = None, *,
            store: ResultsStore | None = None) -> str:
    """The queue key ``request_point`` would use (pages compare it to decide whether a request is still wanted)."""
    spec, settings, store = _prepare(model, point, settings, store)
    return _job_key(spec, point, settings, store, False)


def request_key(model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings) -> str:
    """The key the store's job records of this point carry (``ResultsStore.last_job``), on any machine."""
    return _request_key(resolve(model), point, settings)


def _prepare(
    model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings | None, store: ResultsStore | None
) -> tuple[ModelKind, MeasureSettings, ResultsStore]:
    """The model's kind, settings and store; a kind that cannot do a point (an uploaded file without
    training code, the text model) refuses it here, in one sentence, before anything is queued."""
    spec = resolve(model)
    spec.check_point(point)
    if not point.fine_tuned and not spec.quick_versions:
        from ecocompress.core.errors import invalid_parameter

        raise invalid_parameter("fine_tuned", f"True for {spec.name} (it has no quick post-training version)", False)
    return spec, settings or measure_defaults(), store or ResultsStore()


def _request_key(spec: ModelKind, point: CompressionPoint, settings: MeasureSettings) -> str:
    """The point's cache key as one string: what a stored job record is found by again."""
    return "|".join(cache_key(spec, point, settings))


def _job_key(spec: ModelKind, point: CompressionPoint, settings: MeasureSettings, store: ResultsStore, fresh: bool) -> str:
    """Identical requests (same content, settings, code and store) share one queued job."""
    return f"{_request_key(spec, point, settings)}|{store.location}" + ("|fresh" if fresh else "")


_RECOVERED: set[str] = set()


@dataclass(frozen=True)
class OverLimits:
    """A point whose last job went over the server's job limits: offered again only on request."""

    sentence: str  # what the user was told then
    seconds: float  # how long it ran before it was stopped: the least a new try takes
    finished_at: str  # UTC, ISO format


def over_limits(model: str | ModelKind, point: CompressionPoint, settings: MeasureSettings,
                store: ResultsStore | None = None) -> OverLimits | None:
    """The last job for this point, when it was stopped for going over the job limits and nothing was stored since.

    A page asks this before queueing, so a point that cost a worker its memory or time limit is not re-run by a
    revisit or a reload, only when the user asks again, told how long the failed try took.
    """
    spec, store = resolve(model), store or ResultsStore()
    job = store.last_job(_request_key(spec, point, settings))
    if job is None or job["failure"] != "LimitExceeded" or lookup(spec, point, settings, store=store) is not None:
        return None
    seconds = (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    return OverLimits(job["reason"] or "", seconds, job["finished_at"])


FIRST_ANSWER_SHARE = 0.2  # of a first-answer job's progress bar: the quick version, then the point itself


def _job(spec: ModelKind, point: CompressionPoint, settings: MeasureSettings, store: ResultsStore, fresh: bool,
         *, first_answer: bool = False, owner: str = "cli"):
    """The queued work for one point: recorded as a job of ``owner``, so a failure or a kill leaves its reason.

    A failure that is not one of ecocompress's own sentences reaches the user as ``failure_sentence`` (its kind,
    never a library's text, which can quote an uploaded model's node names).
    """
    from ecocompress.core.errors import EcoCompressError, JobFailed, failure_sentence
    from ecocompress.service.compute_queue import JobCancelled

    def work(progress: Progress) -> Measurement:
        if store.location not in _RECOVERED:  # jobs a killed process left 'running' become 'failed' with the reason
            store.recover_interrupted()
            _RECOVERED.add(store.location)
        again = None if fresh else lookup(spec, point, settings, store=store)  # measured while we waited
        if again is not None:
            return again
        job_id = store.start_job(spec.name, point.label(), owner=owner, key=_request_key(spec, point, settings))
        try:
            if first_answer:
                quick_point, quick_settings = quick_version(spec, point, settings)
                if (quick_point, quick_settings) != (point, settings) and lookup(spec, quick_point, quick_settings, store=store) is None:
                    _compute(spec, quick_point, quick_settings, store, owner,
                             lambda step, f: progress(f"first answer (before fine-tuning): {step}", FIRST_ANSWER_SHARE * f))
                progress = _scaled(progress, FIRST_ANSWER_SHARE)
            result = _compute(spec, point, settings, store, owner, progress)
        except JobCancelled:
            store.finish_job(job_id, "cancelled", "cancelled: nobody waited for it any more; nothing was stored")
            store.recover_interrupted()  # the killed worker's own rows (a baseline it was measuring)
            raise
        except BaseException as exc:
            sentence = failure_sentence(exc)
            store.finish_job(job_id, "failed", sentence[:500], failure=type(exc).__name__)
            store.recover_interrupted()
            if isinstance(exc, (EcoCompressError, KeyboardInterrupt, SystemExit)):
                raise
            raise JobFailed(f"The job for {point.label()} on {spec.name} failed: {sentence}") from None
        store.finish_job(job_id, "done")
        return on_series_baseline(result, spec, settings, store)

    return work


def _baseline_in_series(spec: ModelKind, settings: MeasureSettings, store: ResultsStore) -> Measurement | None:
    """The baseline measured with ``settings`` or, failing that, in the same series with another energy budget.

    A point uses its baseline's artifact, accuracy and sizes, none of which depend on the budget, and measures
    energy in pairs with it afresh: a quick first answer needs no baseline of its own.
    """
    found = lookup(spec, CompressionPoint(), settings, store=store)
    if found is None:
        found = next((m for m in measured_points(spec, settings, store=store)
                      if m.is_baseline and Path(m.onnx_path).is_file()), None)
    return found


def _scaled(progress: Progress, start: float) -> Progress:
    """``progress`` for the part of a job after ``start`` (a fraction of its bar)."""
    return lambda step, f: progress(step, start + (1.0 - start) * f)


def _compute(
    spec: ModelKind, point: CompressionPoint, settings: MeasureSettings, store: ResultsStore, owner: str,
    progress: Progress,
) -> Measurement:
    """Build and measure one point (the baseline first, if needed) and store it, in the limited worker process."""
    from ecocompress.sandbox.limits import inside_worker

    if spec.runs_in_worker and not inside_worker():
        from ecocompress.service.compute_queue import run_in_worker

        return run_in_worker(_compute, spec, point, settings, store, owner,
                             what=f"The job for {point.label()} on {spec.name}", progress=progress)
    from ecocompress.measure.energy import energy_of, warm_up_codecarbon

    baseline = None
    if not point.is_baseline:
        progress("measuring the uncompressed baseline (once per model)", 0.02)
        baseline = _baseline_in_series(spec, settings, store) or _job(
            spec, CompressionPoint(), settings, store, False, owner=owner)(progress)
    warm_up_codecarbon(settings.country)
    artifact, build_wh = energy_of(
        lambda: spec.build_artifact(point, artifact_path(spec, point, settings), progress=progress),
        country_iso_code=settings.country, force_cpu_power=settings.force_cpu_power_w,
        force_ram_power=settings.force_ram_power_w)
    result, paired = _measure_artifact(spec, point, artifact, settings, baseline, progress)
    result = replace(result, build_energy_wh=build_wh, measuring_energy_wh=paired.energy_wh)
    if settings.seeds > 1 and point.involves_training:
        result = _with_seed_spread(spec, point, result, settings.seeds, progress)
    progress("saving the result", 0.98)
    store.put(
        model=spec.name,
        model_hash=spec.content_hash,
        point_key=point.key(),
        settings_key=settings.key(),
        code_version=code_version(),
        result=result.to_dict(),
        provenance={
            **environment(),
            "code_version": code_version(),
            "model_hash": spec.content_hash,
            "point": point.to_dict(),
            "settings": settings.__dict__,
            "energy_method": paired.method.__dict__,
            "energy_windows": [{"baseline": b.__dict__, "point": None if p is None else p.__dict__} for b, p in paired.windows],
            "measured_at": result.measured_at,
        },
    )
    return result


def _with_seed_spread(
    spec: ModelKind, point: CompressionPoint, result: Measurement, seeds: int, progress: Progress
) -> Measurement:
    """Re-run the training steps with more seeds and attach the accuracy mean and spread.

    Energy and latency stay those of seed 0's artifact (the one handed out); on small test
    sets the seed-to-seed accuracy noise is as large as the effects, so it is reported.
    """
    from ecocompress.measure.session import open_session

    accuracies = [result.accuracy]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, seeds):
            progress(f"repeating the training with seed {seed} of {seeds - 1}", 0.9)
            extra = spec.build_artifact(point, Path(tmp) / f"seed{seed}.onnx", seed=seed)
            accuracies.append(spec.evaluate(open_session(extra.onnx_path)).accuracy)
    return replace(
        result,
        seeds=seeds,
        accuracy_seed_mean=statistics.fmean(accuracies),
        accuracy_seed_std=statistics.stdev(accuracies),
    )


def measured_points(
    model: str | ModelKind, settings: MeasureSettings | None = None, *, store: ResultsStore | None = None
) -> list[Measurement]:
    """The latest measurement of every point of ``model`` in one series (for charts, fronts, recommendations).

    A series is what changes a figure's expected value: scenario and batch, threads, forced CPU/RAM power
    and the code version (``MeasureSettings.series``). Points of other series are never mixed in; the
    grid region is not part of it (CO2e is computed here, for ``settings.country``).
    """
    spec = resolve(model)
    settings = settings or measure_defaults()
    runs = _series_runs(spec, settings, store or ResultsStore())
    base = pooled_baseline(runs)  # one baseline figure for the whole series, as lookup and jobs give it
    latest: dict[CompressionPoint, Measurement] = {}
    for record in runs:
        if not record.fine_tuned:
            continue  # a quick first answer is shown beside its setting while it trains, never as a point of its own
        latest[record.point] = record  # results are oldest first: the last one wins (per-layer settings included)
    return [on_baseline(r, base).in_region(settings.country) for r in latest.values()]


def on_series_baseline(record: Measurement, spec: ModelKind, settings: MeasureSettings, store: ResultsStore) -> Measurement:
    """``record``'s absolute figures on its series' pooled baseline, CO2e on ``settings``' grid: what every
    surface shows (its own run's baseline stays in the store and its provenance)."""
    return on_baseline(record, pooled_baseline(_series_runs(spec, settings, store))).in_region(settings.country)


_RUNS: OrderedDict[tuple, tuple[Measurement, ...]] = OrderedDict()  # decoded runs by store state (a page asks often)
_RUNS_LOCK = threading.Lock()


def _series_runs(spec: ModelKind, settings: MeasureSettings, store: ResultsStore) -> tuple[Measurement, ...]:
    """Every stored run of ``spec`` in ``settings``' series and this code version, oldest first (first answers
    and re-measures included: each measured the baseline in its own windows).

    Decoded once per state of the store's rows for the model (``ResultsStore.version``): a page that looks up a
    point and lists the series in one render reads the rows once, and any write is seen at the next call.
    """
    series = settings.series(spec.measure_batch(settings))
    key = (store.identity(), hardware(), spec.name, series, code_version(), store.version(spec.name))
    with _RUNS_LOCK:
        if key in _RUNS:
            _RUNS.move_to_end(key)
            return _RUNS[key]
    runs = tuple(r for r in map(_record, store.results(spec.name, code_version=code_version()))
                 if r is not None and r.series == series)
    with _RUNS_LOCK:
        _RUNS[key] = runs
        while len(_RUNS) > 32:
            _RUNS.popitem(last=False)
    return runs


def compress(
    model: nn.Module,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    name: str = "custom",
    sparsity: float = 0.0,
    bits: int = 32,
    student_width: float = 1.0,
    structured: bool = False,
    rank_ratio: float | None = None,
    point: CompressionPoint | None = None,
    build_student: Callable[[float], nn.Module] | None = None,
    recipe: TrainConfig | None = None,
    settings: MeasureSettings | None = None,
    out_dir: Path | None = None,
) -> Measurement:
    """Compress your own PyTorch classifier as asked and measure it (accuracy, size, latency, CodeCarbon energy).

        from ecocompress import compress
        result = compress(my_model, x_train, y_train, x_test, y_test, name="my-mlp", sparsity=0.8, bits=4)

    ``point`` (a ``CompressionPoint``) replaces the knob arguments, e.g. for per-layer settings or a newer knob.
    Nothing is registered: to reach the model by name later (``measured_points``, the CLI), call
    ``ecocompress.models.registry.register_model(custom_model(...))`` yourself.
    """
    from ecocompress.models.custom import custom_model

    knobs = CompressionPoint(sparsity=sparsity, bits=bits, student_width=student_width, structured=structured,
                             rank_ratio=rank_ratio)
    if point is not None and not knobs.is_baseline:
        raise InvalidParameterError("Give either point=... or the knob arguments (sparsity, bits, ...), not both.")
    point = point or knobs
    spec = custom_model(model, x_train, y_train, x_test, y_test, name=name, build_student=build_student, recipe=recipe)
    return measure_point(spec, point, settings, out_dir=out_dir)
