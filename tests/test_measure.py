import numpy as np
import pytest
import torch

from ecocompress.compressor.export import export_onnx
from ecocompress.measure.session import batch_of, measure_accuracy, measure_latency, open_session, run_logits, wilson_interval
from ecocompress.models.registry import get_model
from ecocompress.compressor.training import predict


def test_wilson_interval_known_values():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4)
    assert high == pytest.approx(0.5962, abs=1e-4)
    low, high = wilson_interval(360, 360)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.98944, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-4)


def test_batch_of_repeats_short_inputs():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert batch_of(x, 7).shape == (7, 2)
    assert batch_of(x, 2).shape == (2, 2)
    assert batch_of(x, 7).flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("name", ["digits-cnn", "mnist-lenet300", "mnist-lenet5"])
def test_onnxruntime_agrees_with_torch(name, tmp_path):
    spec = get_model(name)
    model = spec.load()
    data = spec.dataset()
    path = export_onnx(model, data.input_shape, tmp_path / "m.onnx")
    session = open_session(path)
    x = data.x_test[:500]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_logits(session, x), expected, rtol=1e-4, atol=1e-4)
    acc = measure_accuracy(session, data.x_test, data.y_test)
    assert acc.accuracy == pytest.approx(float((predict(model, data.x_test) == data.y_test).mean()), abs=1e-9)
    assert acc.ci_low < acc.accuracy < acc.ci_high


def test_latency_is_positive_and_ordered(tmp_path):
    spec = get_model("digits-cnn")
    path = export_onnx(spec.load(), spec.dataset().input_shape, tmp_path / "m.onnx")
    lat = measure_latency(open_session(path), spec.dataset().x_test, large_batch=64, min_seconds=0.1)
    assert 0 < lat.batch1_median_ms <= lat.batch1_p90_ms
    assert 0 < lat.large_batch_median_ms <= lat.large_batch_p90_ms
    assert lat.large_batch_size == 64
