"""The per-layer view: every weighted layer with its costs and sensitivities, from the service and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from ecocompress.cli import main
from ecocompress.core.points import CompressionPoint
from ecocompress.measure.layers import rank_correlation
from ecocompress.measure.opcounts import count_operations
from ecocompress.service.api import lookup
from ecocompress.service.layers import cached_layer_view, layer_view

FIELDS = {"name", "op_type", "params", "macs", "modelled_energy_pj", "time_share", "sensitivity_points"}


@pytest.fixture(scope="module")
def view(module_home):  # module_home sets ECOCOMPRESS_HOME for the whole module
    from conftest import FAST_SETTINGS

    return layer_view("digits-cnn", CompressionPoint(sparsity=0.9, bits=3), FAST_SETTINGS)


@pytest.fixture(autouse=True)
def eco_home(module_home):
    return module_home


def test_every_weighted_layer_has_its_costs_and_sensitivities(view, fast_settings):
    baseline = lookup("digits-cnn", CompressionPoint(), fast_settings)
    layers = count_operations(baseline.onnx_path).layers
    assert [r.macs for r in view.rows] == [layer.macs for layer in layers]  # every weighted layer, in graph order
    assert [r.name for r in view.rows] == ["features.0", "features.2", "classifier.1", "classifier.3"]
    assert (view.sparsity, view.bits) == (0.9, 3)
    for row in view.rows:
        assert set(row.modelled_energy_pj) == {"dense_cpu", "int8_accelerator", "sparse_accelerator"}
        assert all(v > 0 for v in row.modelled_energy_pj.values())
        assert 0 <= row.time_share <= 1
        assert set(row.sensitivity_points) == {"prune", "quantize"}
        assert all(-100 <= v <= 100 for v in row.sensitivity_points.values())
    assert 0.5 < sum(r.time_share for r in view.rows) <= 1.0  # the weighted layers take most of the kernel time
    # pruning 90% of one layer without fine-tuning costs accuracy somewhere: the view is not all zeros
    assert min(r.sensitivity_points["prune"] for r in view.rows) < -0.5


def test_the_view_is_computed_once_per_knobs_and_series(view, fast_settings):
    again = cached_layer_view("digits-cnn", CompressionPoint(sparsity=0.9, bits=3), fast_settings)
    assert again == view
    assert cached_layer_view("digits-cnn", CompressionPoint(sparsity=0.5, bits=3), fast_settings) is None


def test_the_cli_lists_every_layer_as_json(view, capsys):
    code = main(["layers", "--model", "digits-cnn", "--sparsity", "0.9", "--bits", "3", "--repeats", "2",
                 "--energy-budget", "1", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [set(row) for row in data["rows"]] == [FIELDS] * 4
    assert data["rows"] == [json.loads(json.dumps(r)) for r in view.to_dict()["rows"]]
    assert math.isnan(data["rank_correlation_time_vs_modelled"]) or -1 <= data["rank_correlation_time_vs_modelled"] <= 1


def test_bad_knobs_for_the_layers_command_exit_2(capsys):
    assert main(["layers", "--model", "digits-cnn", "--sparsity", "1.5"]) == 2
    assert "'sparsity' parameter" in capsys.readouterr().err


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 2], [1, 2]))
