"""Choosing the runnable format by measuring: which candidates exist, and what gets picked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecocompress.compressor.export import export_onnx
from ecocompress.measure.session import open_session, run_logits
from ecocompress.models.registry import get_model
from ecocompress.compressor.runtime_choice import CHECK_EXAMPLES, candidates, choose_runtime
from ecocompress.compressor.training import split_validation

SPEC = get_model("digits-cnn")
DATA = SPEC.dataset()
_, CHECK = split_validation(len(DATA.x_train), seed=0)
CHECK_X, CHECK_Y = DATA.x_train[CHECK], DATA.y_train[CHECK]


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory) -> Path:
    return export_onnx(SPEC.load(), DATA.input_shape, tmp_path_factory.mktemp("fp32") / "fp32.onnx")


def check_accuracy(path: Path) -> float:
    x, y = CHECK_X[:CHECK_EXAMPLES], CHECK_Y[:CHECK_EXAMPLES]
    return float((run_logits(open_session(path), x).argmax(1) == y).mean())


def test_fp32_point_runs_as_fp32(fp32_path, tmp_path):
    choice = choose_runtime(fp32_path, 32, DATA.x_train, CHECK_X, CHECK_Y, tmp_path)
    assert choice.runtime_format == "onnxruntime fp32"
    assert choice.path == fp32_path
    assert "fp32 1.00x" in choice.reason and "calibrated" not in choice.reason  # nothing was calibrated


def test_int8_choice_is_a_built_candidate_that_keeps_accuracy(fp32_path, tmp_path):
    built, failed = candidates(fp32_path, 8, DATA.x_train, tmp_path / "candidates")
    choice = choose_runtime(fp32_path, 8, DATA.x_train, CHECK_X, CHECK_Y, tmp_path / "choice")
    assert choice.runtime_format in built
    assert choice.path.is_file()
    expected_dir = fp32_path.parent if choice.runtime_format == "onnxruntime fp32" else tmp_path / "choice"
    assert choice.path.parent == expected_dir
    tolerance = max(0.002, 1.0 / min(len(CHECK_Y), CHECK_EXAMPLES))
    assert check_accuracy(choice.path) >= check_accuracy(fp32_path) - tolerance
    assert "fp32 1.00x" in choice.reason and "batch 256" in choice.reason
    checked = min(len(CHECK_Y), CHECK_EXAMPLES)  # bounded, and the bounds stated: calibration reads 16 batches of 64
    assert f"static int8 calibrated on 1,024 training examples; accuracy checked on {checked:,} held-out" in choice.reason
    for label in built:  # every candidate is reported, timed or rejected
        assert label.removeprefix("onnxruntime ") in choice.reason
    assert not failed


def test_candidates_for_eight_bits(fp32_path, tmp_path):
    built, failed = candidates(fp32_path, 8, DATA.x_train, tmp_path)
    assert not failed, failed
    assert {"onnxruntime fp32", "onnxruntime static QDQ int8", "onnxruntime dynamic int8",
            "onnxruntime weight-only int8"} <= built.keys()
    assert "onnxruntime fp16" not in built
    assert built["onnxruntime fp32"] == fp32_path
    for label, path in built.items():
        assert path.is_file(), label
        logits = run_logits(open_session(path), CHECK_X[:8])
        assert logits.shape == (8, 10) and np.isfinite(logits).all()


def test_candidates_for_sixteen_bits(fp32_path, tmp_path):
    built, failed = candidates(fp32_path, 16, DATA.x_train, tmp_path)
    assert not failed, failed
    assert set(built) == {"onnxruntime fp32", "onnxruntime fp16"}
    assert built["onnxruntime fp16"].is_file()
    assert check_accuracy(built["onnxruntime fp16"]) >= check_accuracy(fp32_path) - 0.01


def test_fp32_has_no_other_candidates(fp32_path, tmp_path):
    built, failed = candidates(fp32_path, 32, DATA.x_train, tmp_path)
    assert built == {"onnxruntime fp32": fp32_path} and failed == {}


def test_weight_only_matrix_multiplies_keep_the_model(fp32_path, tmp_path):
    """Gemm layers are spelt as MatMul + Add without changing a single output, then their weights become 4- or
    8-bit blocks (MatMulNBits) that stay close to fp32 on held-out images."""
    import onnx

    from ecocompress.compressor.techniques.weight_only import _gemms_as_matmuls

    model = onnx.load(str(fp32_path))
    assert _gemms_as_matmuls(model) == 2  # the digits CNN's two linear layers
    onnx.save(model, str(tmp_path / "matmul.onnx"))
    x = CHECK_X[:64]
    np.testing.assert_allclose(run_logits(open_session(tmp_path / "matmul.onnx"), x),
                               run_logits(open_session(fp32_path), x), rtol=1e-5, atol=1e-5)
    built, failed = candidates(fp32_path, 4, DATA.x_train, tmp_path)
    assert not failed and "onnxruntime weight-only int4" in built
    graph = onnx.load(str(built["onnxruntime weight-only int4"])).graph
    assert sum(node.op_type == "MatMulNBits" for node in graph.node) == 2
    int8 = candidates(fp32_path, 8, DATA.x_train, tmp_path / "eight")[0]["onnxruntime weight-only int8"]
    assert check_accuracy(int8) >= check_accuracy(fp32_path) - 0.01
