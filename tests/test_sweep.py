"""Sweeps: grids validated up front, value lists parsed plainly, Pareto sets, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecocompress.cli import main
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.pareto import pareto_mask
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import ResultsStore
from ecocompress.service.sweep import grid, parse_values


def test_grid_is_every_distinct_combination():
    points = grid({"sparsity": [0, 0.5], "bits": [32, 8], "student_width": [1.0]})
    assert len(points) == 4 == len(set(points))
    assert set(points) == {
        CompressionPoint(sparsity=s, bits=b) for s in (0.0, 0.5) for b in (32, 8)
    }
    assert grid({"sparsity": [0, 0.0, 0.5, 0.5], "bits": [32, 8, 32], "student_width": [1, 1.0]}) == points  # duplicates removed, order kept


def test_grid_normalises_before_removing_duplicates():
    # rank 1.0 is "no factorisation", and structured pruning at sparsity 0 is no pruning at all.
    assert grid({"sparsity": [0.5], "bits": [8], "rank_ratio": [None, 1.0]}) == [CompressionPoint(sparsity=0.5, bits=8)]
    points = grid({"sparsity": [0, 0.5], "bits": [32]}, structured=True)
    assert points == [CompressionPoint(), CompressionPoint(sparsity=0.5, structured=True)]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(sparsity=[0, 1.5]), "sparsity"),
        (dict(bits=[32, 9]), "bits"),
        (dict(student_width=[1.0, 0.3]), "student_width"),
        (dict(rank_ratio=[0.5, 0.0]), "rank_ratio"),
        (dict(width=[0.5]), "grid"),
    ],
)
def test_grid_rejects_a_bad_value_up_front(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter"):
        grid(kwargs)


def test_parse_values():
    assert parse_values("sparsity", "0, 0.5,0.9,", float) == [0.0, 0.5, 0.9]
    assert parse_values("bits", "32,8", int) == [32, 8]
    with pytest.raises(InvalidParameterError) as info:
        parse_values("bits", "32,x", int)
    assert str(info.value) == "The 'bits' parameter must be a comma-separated list of numbers. Got '32,x' instead."
    with pytest.raises(InvalidParameterError, match="'sparsity' parameter must list at least one value"):
        parse_values("sparsity", " , ", float)


def test_pareto_mask_by_hand():
    # (accuracy up, cost down)
    gain = [0.90, 0.95, 0.95, 0.80, 0.95, 0.99, 0.90]
    cost = [1.00, 2.00, 2.00, 0.50, 3.00, 9.00, 1.00]
    # 0 and 6 are exact duplicates (both kept); 1 and 2 too; 4 ties 1 on accuracy but costs
    # more (dominated); 3 is cheapest; 5 is most accurate.
    assert pareto_mask(gain, cost).tolist() == [True, True, True, True, False, True, True]
    assert pareto_mask([0.9, 0.9], [1.0, 2.0]).tolist() == [True, False]  # tie on gain
    assert pareto_mask([0.8, 0.9], [1.0, 1.0]).tolist() == [False, True]  # tie on cost
    assert pareto_mask([], []).tolist() == []
    with pytest.raises(ValueError):
        pareto_mask([1.0, 2.0], [1.0])


def _dominates(g, c, i, j) -> bool:
    return g[i] >= g[j] and c[i] <= c[j] and (g[i] > g[j] or c[i] < c[j])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5)),  # small ranges: many ties and duplicates
        min_size=1,
        max_size=25,
    )
)
def test_pareto_mask_property(pairs):
    g = np.array([p[0] for p in pairs], dtype=float)
    c = np.array([p[1] for p in pairs], dtype=float)
    mask = pareto_mask(g, c)
    n = len(pairs)
    assert mask.any()
    for j in range(n):
        dominated = any(_dominates(g, c, i, j) for i in range(n))
        assert mask[j] == (not dominated)
        if not mask[j]:  # dominated by a point that is itself on the front
            assert any(mask[i] and _dominates(g, c, i, j) for i in range(n))


def test_cli_sweep_prints_the_pareto_sets(capsys):
    assert main(["sweep", "--model", "digits-cnn", "--bits", "32,8", "--repeats", "2", "--energy-budget", "1"]) == 0
    captured = capsys.readouterr()
    assert "Pareto-optimal" in captured.out
    assert "all points" in captured.out and "fp32 baseline" in captured.out and "8-bit" in captured.out
    assert "2 points" in captured.err
    assert ResultsStore().count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bits", "32,x"], "The 'bits' parameter must be a comma-separated list of numbers. Got '32,x' instead."),
        (["--sparsity", "0,1.5"], "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.5 instead."),
    ],
)
def test_cli_sweep_bad_input_exits_2_with_one_line_and_no_work(args, message, capsys):
    assert main(["sweep", "--model", "digits-cnn", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"ecocompress: {message}"
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""
    assert ResultsStore().count() == 0
