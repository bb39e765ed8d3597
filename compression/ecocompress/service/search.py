"""Accuracy-budget search on Optuna: the lowest-cost point within the budget, every trial kept.

A multi-objective study (accuracy up, the chosen cost down) samples the engine's knobs; each
trial is ``measure_point``, so a point measured before (by a sweep, the dashboard or another
worker) costs nothing. The recommendation never ends in "no model found": it is the cheapest
point inside the accuracy budget or, when none is, the closest one, labelled as such.

Storage follows Optuna's own ``get_storage`` idea: no URL gives an embedded journal file on
local disk that several processes on this machine share safely (file lock); a database URL
(``postgresql://...``) lets workers on any number of machines join one study.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import Any, Callable

from ecocompress.core.choice import DEFAULT_BUDGET_POINTS, Recommendation, checked_budget, recommend, saves, settled
from ecocompress.core.config import home_dir
from ecocompress.core.objectives import OBJECTIVES
from ecocompress.core.errors import EcoCompressError, InvalidParameterError, invalid_parameter
from ecocompress.core.knobs import KNOBS, SPARSITY
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import MeasureSettings
from ecocompress.core.settings import measure_defaults

# Tried first in a new study (then the sampler takes over): the usual good starting points, as search parameters
# (every knob at the value it offers for "off" unless named).
STARTING_POINTS = tuple(
    {**{knob.field: knob.default for knob in KNOBS}, "structured": False, **start}
    for start in ({"bits": 8}, {"sparsity": 0.5, "bits": 8, "structured": True}, {"sparsity": 0.9, "bits": 4},
                  {"bits": 8, "student_width": 0.5})
)
# What a search samples: each knob's declared search values, and whether sparsity prunes whole channels.
SPACE: dict[str, list[Any]] = {**{knob.field: list(knob.searched) for knob in KNOBS}, "structured": [False, True]}


@dataclass(frozen=True)
class TrialResult:
    """One completed trial, as the recommendation logic sees it."""

    number: int
    label: str
    accuracy: float
    accuracy_drop_points: float
    cost: float
    saves: bool = False  # costs less than the baseline beyond the 95% interval (``core.choice.saves``)
    is_baseline: bool = False
    settled: bool = False  # its cost rests on enough measurements to be read (``core.choice.settled``)


# How ``core.choice.recommend`` reads a trial: its reported cost and whether it saves, and was read, measurably.
TRIAL_READERS = {"cost": lambda r: r.cost, "saving": lambda r: r.saves, "read": lambda r: r.settled}


def recommend_trial(results: list[TrialResult], max_drop_points: float, objective: str = "energy") -> Recommendation | None:
    """The one recommendation rule (``core.choice.recommend``) over the study's trials, with the costs each reported:
    what a search recommends when some of its trials were measured into other machines' stores."""
    return recommend(sorted(results, key=lambda r: r.number), max_drop_points, objective, **TRIAL_READERS)


def pareto_trials(results: list[TrialResult]) -> list[TrialResult]:
    """Trials no other trial beats on both accuracy and cost, cheapest first."""
    from ecocompress.core.pareto import pareto_mask

    if not results:
        return []
    mask = pareto_mask([r.accuracy for r in results], [r.cost for r in results])
    return sorted((r for r, keep in zip(results, mask) if keep), key=lambda r: r.cost)


def default_storage_path() -> str:
    return str(home_dir() / "search" / "studies.journal")


def get_storage(url: str | None):
    """None: the embedded journal file (safe for several local processes); a URL: Optuna's RDB storage."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url is None or url == "":
        path = default_storage_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    if url.startswith("postgresql://"):
        try:
            import psycopg2  # noqa: F401  (SQLAlchemy's default driver, if installed)
        except ImportError:
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # psycopg 3, the maintained driver
    if not url.startswith(("postgresql", "sqlite:///", "mysql")):
        raise invalid_parameter("storage", "empty (a local file) or a database URL such as postgresql://user:password@host/db", url)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:
        raise EcoCompressError(f"Cannot open the search storage {url.split('@')[-1]!r} ({type(exc).__name__}: {str(exc)[:160]}).") from None


def study_name_for(model: str, objective: str) -> str:
    return f"ecocompress-{model}-{objective}"


def point_from_params(params: dict[str, Any]) -> CompressionPoint:
    """The point a trial's parameters describe (a knob the study does not sample stays at its default)."""
    knobs = {knob.field: params.get(knob.field, knob.default) for knob in KNOBS}
    return CompressionPoint(**knobs, structured=bool(params["structured"]) and SPARSITY.is_set(float(knobs["sparsity"])))


def per_layer_objective(objective: str) -> str:
    """What the per-layer choice minimises for a search objective: size is size; energy and latency need fewer
    multiply-accumulates (per-layer structured pruning)."""
    return "size" if objective == "size" else "energy"


MAX_LIMIT_FAILURES = 3  # trials in a row over the job limits: the search stops instead of trying forever


class LimitFailures:
    """Counts trials in a row that went over the job limits; at ``MAX_LIMIT_FAILURES`` the study is stopped."""

    def __init__(self) -> None:
        self.in_a_row = 0
        self.last: str | None = None

    @property
    def stopped(self) -> bool:
        return self.in_a_row >= MAX_LIMIT_FAILURES

    def sentence(self) -> str:
        return (f"The search stopped: {self.in_a_row} trials in a row went over the job limits (the last: {self.last}). "
                "Completed trials are kept; try a smaller model or ask the operator about ECOCOMPRESS_JOB_*.")


def _objective(model: str, objective: str, settings: MeasureSettings, space: dict[str, list[Any]],
               max_drop_points: float = DEFAULT_BUDGET_POINTS, *, session: str = "cli", failures: LimitFailures | None = None):
    import optuna

    from ecocompress.sandbox.limits import LimitExceeded
    from ecocompress.service.api import measure_point
    from ecocompress.service.layers import allocate_point

    column = OBJECTIVES[objective].column
    failures = failures or LimitFailures()

    def run(trial: optuna.Trial) -> tuple[float, float]:
        params = {name: trial.suggest_categorical(name, choices) for name, choices in space.items()}
        try:
            if params.get("per_layer"):  # the per-layer point chosen for this objective within the budget
                point, _ = allocate_point(model, objective=per_layer_objective(objective), max_accuracy_drop=max_drop_points,
                                          session=session)
            else:
                point = point_from_params(params)
            result = measure_point(model, point, settings, session=session, wait_for_room=True)
        except InvalidParameterError as exc:  # e.g. structured pruning of an uploaded file: not a failure
            trial.set_user_attr("skipped", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        except LimitExceeded as exc:  # failed (Optuna catches it); a run of them stops the study
            failures.in_a_row, failures.last = failures.in_a_row + 1, str(exc)
            if failures.stopped:
                trial.study.stop()
            raise
        failures.in_a_row = 0
        record = result.to_dict()
        trial.set_user_attr("label", result.label)
        trial.set_user_attr("pid", os.getpid())  # which worker process ran it
        trial.set_user_attr("accuracy_drop_points", result.accuracy_drop_points)
        trial.set_user_attr("cost", record[column])
        trial.set_user_attr("saves", saves(result, objective))
        trial.set_user_attr("is_baseline", result.is_baseline)
        trial.set_user_attr("settled", settled(result, objective))
        return result.accuracy, float(record[column])

    return run


def completed(study) -> list[TrialResult]:
    """Completed trials, one per distinct point (a point sampled twice counts once)."""
    import optuna

    seen, out = set(), []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        label = t.user_attrs.get("label")
        if label is None or label in seen:
            continue
        seen.add(label)
        out.append(TrialResult(t.number, label, t.values[0], t.user_attrs["accuracy_drop_points"], t.values[1],
                               bool(t.user_attrs.get("saves")), bool(t.user_attrs.get("is_baseline")),
                               bool(t.user_attrs.get("settled"))))
    return out


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    trials: list[TrialResult]
    pareto: list[TrialResult]
    recommendation: Recommendation | None
    finished_trials: int


def _open_study(storage_url: str | None, study_name: str, seed: int, trials: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(8, max(1, trials // 2)))
    return optuna.create_study(
        study_name=study_name, storage=get_storage(storage_url), directions=["maximize", "minimize"],
        sampler=sampler, load_if_exists=True,
    )


def _finished(study) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _worker(model: str, objective: str, settings: MeasureSettings, storage_url: str | None, study_name: str,
            seed: int, trials: int, space: dict[str, list[Any]], max_drop_points: float) -> None:
    """An extra local worker process: joins the study and runs its share of the trials."""
    study = _open_study(storage_url, study_name, seed, trials)
    study.optimize(_objective(model, objective, settings, space, max_drop_points), n_trials=trials,
                   catch=(EcoCompressError,))


def run_search(
    model: str,
    *,
    max_drop_points: float = DEFAULT_BUDGET_POINTS,
    trials: int = 20,
    objective: str = "energy",
    storage_url: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    seed: int = 0,
    settings: MeasureSettings | None = None,
    space: dict[str, list[Any]] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    per_layer: bool = False,
    session: str = "cli",
) -> SearchResult:
    """Run ``trials`` more trials of the study (resuming it if it exists) and recommend a point.

    With ``per_layer``, one more candidate is in the space and tried first: the per-layer point
    ``service.layers.allocate_point`` chooses within ``max_drop_points`` (its own study): for the smallest file
    when the objective is size, for the fewest multiply-accumulates otherwise.
    """
    import optuna

    from ecocompress.models.registry import SAMPLE_MODELS, get_model

    if objective not in OBJECTIVES:
        raise invalid_parameter("objective", f"one of {sorted(OBJECTIVES)}", objective)
    for name, value, low, high in (("trials", trials, 1, 10_000), ("workers", workers, 1, 64)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise invalid_parameter(name, f"an int in the range [{low}, {high}]", value)
    checked_budget("max_drop_points", max_drop_points)
    get_model(model)
    if workers > 1 and model not in SAMPLE_MODELS:
        raise InvalidParameterError(
            "Several local workers need a built-in sample model; for your own model start more `ecocompress search` "
            "processes with the same --model, --data, --study and --storage."
        )
    settings = settings or measure_defaults()
    space = space or SPACE
    starting = list(STARTING_POINTS[: max(1, trials // 3)])
    if per_layer:
        from ecocompress.service.layers import cached_allocation

        # a kind without per-layer settings refuses here
        cached_allocation(model, objective=per_layer_objective(objective), max_accuracy_drop=max_drop_points)
        space = {**space, "per_layer": [False, True]}
        starting = [{**STARTING_POINTS[0], "per_layer": True}] + [{**p, "per_layer": False} for p in starting]
    if study_name is not None and not study_name.strip():
        raise invalid_parameter("study", "a non-empty name (or no --study for the default)", study_name)
    name = study_name or study_name_for(model, objective) + ("-per-layer" if per_layer else "")
    study = _open_study(storage_url, name, seed, trials)
    if not study.get_trials(deepcopy=False):
        for params in starting:
            study.enqueue_trial({k: v for k, v in params.items() if k in space and v in space[k]}, skip_if_exists=True)
    already = _finished(study)
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]  # exactly ``trials``

    def report(study_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            label = trial.user_attrs.get("label") or trial.user_attrs.get("skipped", "skipped")
            progress(_finished(study_) - already, trials, label)
        if should_stop is not None and should_stop():
            study_.stop()

    context = multiprocessing.get_context("spawn")
    helpers = [
        context.Process(target=_worker, args=(model, objective, settings, storage_url, name, seed + i, shares[i], space,
                                              max_drop_points),
                        daemon=False)  # each helper starts its own limited compute worker (``sandbox.limits``)
        for i in range(1, workers)
        if shares[i]
    ]
    for process in helpers:
        process.start()
    failures = LimitFailures()
    try:
        study.optimize(_objective(model, objective, settings, space, max_drop_points, session=session, failures=failures),
                       n_trials=shares[0], callbacks=[report], catch=(EcoCompressError,))
        for process in helpers:
            process.join()
    finally:
        for process in helpers:
            if process.is_alive():
                process.terminate()
    if failures.stopped:
        from ecocompress.sandbox.limits import LimitExceeded

        raise LimitExceeded(failures.sentence())
    results = completed(study)
    candidates = store_candidates(model, settings, objective, results)  # in the store's order, as every page reads it
    if {t.label for t in results} <= {c.label for c in candidates}:
        chosen = recommend(candidates, max_drop_points, objective, **TRIAL_READERS)
    else:  # trials measured into other machines' stores (a shared study): recommend over the study instead
        chosen = recommend_trial(results, max_drop_points, objective)
    return SearchResult(name, results, pareto_trials(results), chosen, _finished(study))


def store_candidates(model: str, settings: MeasureSettings, objective: str, trials: list[TrialResult]) -> list[TrialResult]:
    """Every point of the results store in ``settings``' series as a trial, costed now on the series' pooled baseline.

    The search recommends from these, not from the costs its trials reported when they finished (each on the
    pooled baseline of that moment), so Home, Review, the report and the search give one answer for one store and
    budget. Points measured into another machine's store are in the study's trials but not here (``run_search``
    then recommends over the trials instead).
    """
    from ecocompress.service.api import measured_points

    column = OBJECTIVES[objective].column
    numbers = {t.label: t.number for t in trials}  # -1: a point the study did not measure
    return [TrialResult(numbers.get(m.label, -1), m.label, m.accuracy, m.accuracy_drop_points, float(getattr(m, column)),
                        saves(m, objective), m.is_baseline, settled(m, objective)) for m in measured_points(model, settings)]
