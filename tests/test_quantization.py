import numpy as np
import onnx
import pytest

from ecocompress.compressor.export import INPUT_NAME, export_onnx
from ecocompress.measure.session import measure_accuracy, open_session
from ecocompress.models.registry import get_model
from ecocompress.compressor.techniques.quantization import EqualBatchReader, quantize_static_int8


def test_calibration_batches_are_all_the_same_size():
    x = np.zeros((1000, 3), dtype=np.float32)
    reader = EqualBatchReader("input", x, batch_size=64, batches=100)
    sizes = []
    while (batch := reader.get_next()) is not None:
        sizes.append(len(batch["input"]))
    assert sizes == [64] * (1000 // 64)


def test_calibration_needs_one_full_batch():
    with pytest.raises(ValueError, match="at least 64"):
        EqualBatchReader("input", np.zeros((10, 3), np.float32), batch_size=64, batches=4)


def test_static_int8_is_real_qdq_smaller_and_accurate(tmp_path):
    spec = get_model("digits-cnn")
    data = spec.dataset()
    fp32 = export_onnx(spec.load(), data.input_shape, tmp_path / "fp32.onnx")
    int8 = quantize_static_int8(fp32, tmp_path / "int8.onnx", data.x_train, input_name=INPUT_NAME)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    weights = [i for i in onnx.load(str(int8)).graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert weights, "weights must be stored as int8"
    assert int8.stat().st_size < fp32.stat().st_size / 3
    acc32 = measure_accuracy(open_session(fp32), data.x_test, data.y_test).accuracy
    acc8 = measure_accuracy(open_session(int8), data.x_test, data.y_test).accuracy
    assert acc8 >= acc32 - 0.02
