"""Operation counts read from ONNX files and the modelled-energy arithmetic, checked by hand."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ecocompress.measure.energy_model import PROFILES, EnergyTable, modelled_energy, modelled_for_file
from ecocompress.core.errors import InvalidParameterError, MeasurementError
from ecocompress.measure.opcounts import count_operations


def tiny_onnx(path, *, gemm_zeros: int = 100):
    """Conv (1->2 channels, 3x3, pad 1) on 1x5x5, flatten, Gemm to 4 outputs; ``gemm_zeros`` zero weights."""
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(2, 1, 3, 3)).astype(np.float32) + 5.0  # no zeros
    gemm_w = rng.normal(size=(4, 50)).astype(np.float32) + 5.0
    gemm_w.reshape(-1)[:gemm_zeros] = 0.0
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "conv_w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
            helper.make_node("Gemm", ["f", "gemm_w"], ["logits"], transB=1, name="gemm"),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 5, 5])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(gemm_w, "gemm_w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path))
    return path


def test_counts_by_hand(tmp_path):
    counts = count_operations(tiny_onnx(tmp_path / "tiny.onnx"))
    conv, gemm = counts.layers
    # conv: 2x5x5 = 50 outputs x (1 x 3 x 3) = 450 MACs; gemm: 4 outputs x 50 = 200 MACs, half of them zero.
    assert (conv.macs, conv.nonzero_macs, conv.weights, conv.nonzero_weights) == (450, 450, 18, 18)
    assert (gemm.macs, gemm.nonzero_macs, gemm.weights, gemm.nonzero_weights) == (200, 100, 200, 100)
    assert (conv.input_elements, conv.output_elements, gemm.input_elements, gemm.output_elements) == (25, 50, 50, 4)
    assert counts.macs == 650 and counts.activation_elements == 129


def test_dense_fp32_energy_by_hand(tmp_path):
    e = modelled_energy(count_operations(tiny_onnx(tmp_path / "t.onnx")), bits=32, profile="dense_cpu")
    assert e.compute_pj == pytest.approx(650 * (3.7 + 0.9))  # every MAC, zeros included, in fp32
    assert e.weights_pj == pytest.approx(218 * 32 * 1300 / 64)  # 218 weights x 32 bits from DRAM
    assert e.activations_pj == pytest.approx(129 * 32 * 10 / 64)  # 129 activations x 32 bits through SRAM
    assert e.total_pj == pytest.approx(2990 + 141_700 + 645)
    assert e.wh_per_1k == pytest.approx(e.total_pj * 1000 / 3.6e15)
    assert any("650 MACs" in line for line in e.lines) and "Horowitz" in e.lines[1]


def test_sparse_4bit_energy_by_hand(tmp_path):
    e = modelled_energy(count_operations(tiny_onnx(tmp_path / "t.onnx")), bits=4, profile="sparse_accelerator")
    # 550 non-zero MACs x (int8 mult 0.2 x 4/8 + int32 add 0.1) = 110 pJ
    assert e.compute_pj == pytest.approx(550 * 0.2)
    # conv: 18 x 4 bits dense (72) beats 18 x (4 + 4); gemm: min(200 x 4, 100 x (4 + 4)) = 800 bits
    assert e.weights_pj == pytest.approx((72 + 800) * 1300 / 64)
    assert e.activations_pj == pytest.approx(129 * 8 * 10 / 64)  # 8-bit activations


def test_int8_accelerator_widens_low_bits_to_8_and_multiplies_zeros(tmp_path):
    counts = count_operations(tiny_onnx(tmp_path / "t.onnx"))
    e = modelled_energy(counts, bits=4, profile="int8_accelerator")
    assert e.compute_pj == pytest.approx(650 * (0.2 + 0.1))
    assert e.weights_pj == pytest.approx(218 * 8 * 1300 / 64)


def test_profiles_order_as_hardware_would(tmp_path):
    counts = count_operations(tiny_onnx(tmp_path / "t.onnx"))
    dense = modelled_energy(counts, 4, "dense_cpu").total_pj  # fp32 file: the CPU runs it in fp32
    int8 = modelled_energy(counts, 4, "int8_accelerator").total_pj
    sparse = modelled_energy(counts, 4, "sparse_accelerator").total_pj
    assert sparse < int8 < dense


def test_edited_table_changes_the_result(tmp_path):
    counts = count_operations(tiny_onnx(tmp_path / "t.onnx"))
    cheap = modelled_energy(counts, 32, "dense_cpu", EnergyTable(dram_pj_per_64bit=640.0))
    assert cheap.weights_pj == pytest.approx(218 * 32 * 10.0)
    with pytest.raises(InvalidParameterError, match="'fp32_mult_pj' parameter must be a non-negative number"):
        EnergyTable(fp32_mult_pj=-1)
    with pytest.raises(InvalidParameterError, match="'profile' parameter must be one of"):
        modelled_energy(counts, 32, "gpu")


def test_quantized_file_counts_int8_weights_and_their_zeros(tmp_path):
    from ecocompress.compressor.techniques.quantization import quantize_static_int8

    fp32 = tiny_onnx(tmp_path / "t.onnx")
    x = np.random.default_rng(1).normal(size=(64, 1, 5, 5)).astype(np.float32)
    qdq = quantize_static_int8(fp32, tmp_path / "q.onnx", x, input_name="input", batch_size=16, batches=4)
    counts = count_operations(qdq)
    assert [layer.weight_dtype for layer in counts.layers] == ["int8", "int8"]
    assert counts.macs == 650 and counts.layers[1].nonzero_weights == 100  # zeros stay zeros (symmetric grid)
    dense = modelled_for_file(qdq, 8, "dense_cpu")
    assert dense.compute_pj == pytest.approx(650 * 0.3)  # the CPU runs the stored int8


@pytest.mark.parametrize("name", ["digits-cnn", "mnist-lenet300", "mnist-lenet5"])
def test_counts_agree_with_torch_hooks_on_the_sample_models(tmp_path, name):
    from ecocompress.compressor.export import export_onnx
    from ecocompress.models.registry import get_model
    from ecocompress.compressor.techniques.layers import count_macs

    spec = get_model(name)
    model = spec.load()
    shape = spec.dataset().input_shape
    counts = count_operations(export_onnx(model, shape, tmp_path / f"{name}.onnx"))
    assert counts.macs == count_macs(model, shape)
    assert counts.weights == sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))


def test_a_file_without_weight_layers_is_a_sentence(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "relu.onnx"))
    with pytest.raises(MeasurementError, match="no convolution or matrix-multiply layer"):
        count_operations(tmp_path / "relu.onnx")


def test_every_profile_is_described():
    assert all(p.name and p.description for p in PROFILES.values())
