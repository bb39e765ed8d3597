"""Accuracy-budget search: the recommendation on hand-made trials, and real multi-worker studies."""

from __future__ import annotations

import json

import pytest

from ecocompress.cli import main
from ecocompress.service.search import TrialResult, point_from_params, recommend_trial as recommend, run_search

# Cheap points only (no training), so real studies with real measurements stay quick.
SMALL_SPACE = {"sparsity": [0.0], "bits": [32, 16, 8], "student_width": [1.0], "structured": [False], "rank_ratio": [1.0]}


def t(number: int, label: str, accuracy: float, drop: float, cost: float, saves: bool = True,
      settled: bool = True) -> TrialResult:
    return TrialResult(number, label, accuracy, drop, cost, saves, settled=settled)


def test_recommends_the_cheapest_point_inside_the_budget():
    trials = [t(0, "a", 0.99, 0.0, 10.0), t(1, "b", 0.985, 0.5, 4.0), t(2, "c", 0.97, 2.0, 1.0)]
    rec = recommend(trials, max_drop_points=1.0)
    assert rec.record.label == "b" and rec.within_budget
    assert "among the 2 points that save energy beyond their 95% interval" in rec.reason


def test_a_point_without_a_measurable_saving_is_never_recommended_as_one():
    trials = [TrialResult(0, "fp32 baseline", 0.99, 0.0, 10.0, saves=False, is_baseline=True),
              t(1, "noise", 0.99, 0.0, 9.5, saves=False), t(2, "real", 0.985, 0.5, 6.0), t(3, "too lossy", 0.95, 4.0, 1.0)]
    rec = recommend(trials, max_drop_points=1.0)
    assert rec.record.label == "real" and rec.measurable_saving
    rec = recommend(trials[:2], max_drop_points=1.0)  # only noise: keep the baseline, and say why
    assert rec.record.label == "fp32 baseline" and rec.within_budget and not rec.measurable_saving
    assert rec.reason == ("no technique saves energy on this CPU for this model (1 compressed point measured, none "
                          "beyond its 95% interval on enough measurements), so within 1 point of the baseline's "
                          "accuracy the uncompressed model stays the answer")
    unread = [trials[0], t(1, "noise", 0.99, 0.0, 9.5, saves=False, settled=False)]  # two pairs: not a measured "no"
    assert recommend(unread, max_drop_points=1.0).reason.startswith("no compressed point (1 measured) within 1 point")
    rec = recommend(trials[:2] + trials[3:], max_drop_points=1.0)  # a saving, but only outside the budget
    assert rec.record.label == "fp32 baseline" and not rec.measurable_saving
    assert rec.reason == "no compressed point (2 measured) within 1 point of the baseline's accuracy saves energy beyond its 95% interval on enough measurements"


def test_without_a_point_inside_the_budget_the_closest_is_labelled():
    trials = [t(0, "a", 0.90, 3.0, 1.0), t(1, "b", 0.91, 2.0, 5.0), t(2, "c", 0.91, 2.0, 3.0)]
    rec = recommend(trials, max_drop_points=1.0)
    assert rec.record.label == "c" and not rec.within_budget  # least accuracy lost, then the cheaper
    assert rec.reason.startswith("no point is within 1 point of") and "not a recommendation" in rec.reason


def test_ties_go_to_higher_accuracy_then_the_earlier_trial():
    trials = [t(3, "late", 0.98, 0.2, 2.0), t(1, "early", 0.98, 0.2, 2.0), t(2, "worse", 0.97, 0.9, 2.0)]
    assert recommend(trials, max_drop_points=1.0).record.label == "early"
    assert recommend([], max_drop_points=1.0) is None


def test_params_map_to_points():
    point = point_from_params({"sparsity": 0.0, "bits": 8, "student_width": 0.5, "structured": True, "rank_ratio": 1.0})
    assert point.label() == "student x0.5, 8-bit"  # structured without sparsity means nothing; rank 1.0 is "off"


@pytest.mark.slow
def test_two_local_workers_share_the_embedded_storage(fast_settings):
    result = run_search("digits-cnn", trials=6, workers=2, settings=fast_settings, space=SMALL_SPACE, study_name="two-local")
    assert result.finished_trials == 6
    assert {tr.label for tr in result.trials} <= {"fp32 baseline", "16-bit", "8-bit"}
    assert result.recommendation is not None and result.recommendation.within_budget
    pids = _worker_pids(None, "two-local")
    assert len(pids) == 2, pids  # both processes ran trials


def _worker_pids(storage_url, study_name: str) -> set[int]:
    import optuna

    from ecocompress.service.search import get_storage

    study = optuna.load_study(study_name=study_name, storage=get_storage(storage_url))
    return {tr.user_attrs["pid"] for tr in study.get_trials() if "pid" in tr.user_attrs}


def test_a_study_resumes_where_it_stopped(fast_settings):
    first = run_search("digits-cnn", trials=2, settings=fast_settings, space=SMALL_SPACE, study_name="resume")
    second = run_search("digits-cnn", trials=2, settings=fast_settings, space=SMALL_SPACE, study_name="resume")
    assert first.finished_trials == 2 and second.finished_trials == 4


def test_cli_search_json_and_bad_input(capsys):
    assert main(["search", "--model", "digits-cnn", "--trials", "1", "--repeats", "2", "--energy-budget", "1", "--study", "cli", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["finished_trials"] == 1 and out["recommended"]["label"]
    assert main(["search", "--model", "digits-cnn", "--trials", "many"]) == 2
    assert "The 'trials' parameter must be an int" in capsys.readouterr().err
    assert main(["search", "--model", "digits-cnn", "--storage", "redis://x"]) == 2
    assert "The 'storage' parameter must be empty" in capsys.readouterr().err


# ---- a real PostgreSQL server on localhost ----------------------------------------------------------------------

@pytest.mark.slow
def test_two_workers_share_a_real_postgres_study(postgres_url, fast_settings):
    result = run_search("digits-cnn", trials=6, workers=2, settings=fast_settings, space=SMALL_SPACE,
                        storage_url=postgres_url, study_name="two-postgres")
    assert result.finished_trials == 6
    assert len(_worker_pids(postgres_url, "two-postgres")) == 2
    # a third process (as on another machine) joins the same study and sees every trial
    again = run_search("digits-cnn", trials=1, settings=fast_settings, space=SMALL_SPACE, storage_url=postgres_url,
                       study_name="two-postgres")
    assert again.finished_trials == 7
