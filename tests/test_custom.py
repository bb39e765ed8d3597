"""The documented Python API example (docs/usage.md) runs as written, and bad user input gets a sentence."""

import re
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from ecocompress import compress
from ecocompress.core.errors import InvalidParameterError

ROOT = Path(__file__).resolve().parent.parent


def _readme_example() -> str:
    text = (ROOT / "docs" / "usage.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_api_example_runs(capsys):
    namespace: dict = {}
    exec(compile(_readme_example(), "docs/usage.md", "exec"), namespace)
    result = namespace["result"]
    assert result.model == "cancer-mlp" and result.student_width == 0.5 and result.bits == 4
    assert result.storage_ratio > 5
    assert result.accuracy > 0.85  # a tiny tabular task: the student must still work
    assert "student x0.5" in result.technique_notes
    assert Path(result.onnx_path).is_file() and Path(result.storage_path).is_file()
    assert "accuracy" in capsys.readouterr().out


def _tiny():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), x, y


def test_nan_features_are_refused():
    model, x, y = _tiny()
    x[3, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="NaN"):
        compress(model, x, y, x, y, name="nan-test")


def test_student_needs_a_builder():
    model, x, y = _tiny()
    with pytest.raises(InvalidParameterError, match="build_student"):
        compress(model, x, y, x, y, name="no-builder", student_width=0.5)


def test_sample_names_are_reserved_and_lengths_checked():
    model, x, y = _tiny()
    with pytest.raises(InvalidParameterError, match="built-in sample model"):
        compress(model, x, y, x, y, name="digits-cnn")
    with pytest.raises(InvalidParameterError, match="as many labels"):
        compress(model, x, y[:10], x, y, name="short-labels")
