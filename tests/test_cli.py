import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecocompress.cli import main

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    "model sparsity bits student_width accuracy accuracy_ci_low accuracy_ci_high baseline_accuracy size_bytes "
    "baseline_size_bytes compression_ratio params latency_ms_batch1 energy_wh_per_1k "
    "energy_ratio energy_ratio_ci_low energy_ratio_ci_high energy_wh_per_1k_ci_low energy_wh_per_1k_ci_high "
    "energy_difference_significant latency_ratio latency_ratio_ci_low latency_ratio_ci_high accuracy_change_points "
    "emissions_g_per_1k carbon_intensity_g_per_kwh energy_method cpu_power_w ram_power_w onnx_path cached"
).split()


def ecocompress(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ecocompress.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )


@pytest.mark.slow
def test_run_json_has_every_field_and_second_run_is_cached(tmp_path):
    first = ecocompress("run", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--json", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    missing = [key for key in REQUIRED if key not in record]
    assert not missing
    assert record["cached"] is False and record["bits"] == 8 and record["model"] == "digits-cnn"
    assert Path(record["onnx_path"]).parent == tmp_path and Path(record["onnx_path"]).is_file()
    second = ecocompress("run", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["cached"] is True
    assert again["energy_wh_per_1k"] == record["energy_wh_per_1k"]


def test_models_lists_every_sample(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["digits-cnn", "mnist-lenet300", "mnist-lenet5", "mnist-resnet18", "minilm-l6",
                                          "minilm-topics"]
    assert all(r["params"] > 0 for r in rows)
    assert all(0.9 < r["baseline_accuracy"] <= 1 for r in rows if r["model"] != "minilm-l6")  # an encoder: no accuracy
    assert main(["models"]) == 0
    assert "mnist-lenet5" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--model", "nope"], "Unknown model 'nope'"),
        (["run", "--model", "digits-cnn", "--sparsity", "1.5"], "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.5 instead."),
        (["run", "--model", "digits-cnn", "--bits", "0"], "The 'bits' parameter must be an int among"),
        (["run", "--model", "digits-cnn", "--bits", "eight"], "The 'bits' parameter must be an int. Got 'eight' instead."),
        (["run", "--model", "digits-cnn", "--country", "ZZZ"], "3-letter ISO code"),
        (["run"], "required: --model"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input_through_the_real_process():
    proc = ecocompress("run", "--model", "digits-cnn", "--sparsity", "1.5")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        "ecocompress: The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.5 instead."
    )


def test_human_table(capsys, tmp_path):
    assert main(["run", "--model", "digits-cnn", "--repeats", "2", "--energy-budget", "1"]) == 0
    out = capsys.readouterr().out
    for text in ("accuracy", "size on disk", "energy per 1,000 inferences", "CO2e per 1,000 inferences", "energy method"):
        assert text in out
