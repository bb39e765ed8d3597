"""The techniques' shared contract, then what each one promises on its own.

Contract, for every technique and one combination on digits-cnn: a new model comes back, the
input is left alone, the output is (N, 10), it exports to ONNX and onnxruntime agrees with
torch. Fine-tuning is cut to one epoch on 512 images so the whole file stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from ecocompress.compressor.architectures import count_parameters
from ecocompress.compressor.export import export_onnx
from ecocompress.measure.session import open_session, run_logits
from ecocompress.models.registry import get_model
from ecocompress.compressor.storage import fp16_weights
from ecocompress.compressor.techniques.distillation import distill
from ecocompress.compressor.techniques.kbit import best_scale, integer_codes, qmax, quantize_tensor, quantize_weights
from ecocompress.compressor.techniques.layers import conform_to_state_dict, count_macs, weight_density, weight_layers
from ecocompress.compressor.techniques.lowrank import factorize
from ecocompress.compressor.techniques.pruning import magnitude_prune, structured_prune
from ecocompress.compressor.steps.student import quick_subset
from ecocompress.compressor.training import TrainConfig, accuracy, split_validation

SPEC = get_model("digits-cnn")
DATA = SPEC.dataset()
INPUT_SHAPE = DATA.input_shape
X, Y = DATA.x_train[:512], DATA.y_train[:512]
X_TEST = DATA.x_test[:100]
CFG = TrainConfig(epochs=1, batch_size=128, lr=5e-4, shift_pixels=1)


def _combination(teacher: nn.Module) -> nn.Module:
    student = distill(teacher, lambda: SPEC.build(0.5), X, Y, CFG).student
    pruned = magnitude_prune(student, 0.5, X, Y, CFG)
    factored = factorize(pruned, 0.5, X, Y, CFG)
    return quantize_weights(factored, 4, X, Y, CFG)


# name -> (technique applied to the teacher, width of the architecture the result is built on)
TECHNIQUES: dict[str, tuple[Callable[[nn.Module], nn.Module], float]] = {
    "magnitude_prune": (lambda m: magnitude_prune(m, 0.8, X, Y, CFG), 1.0),
    "structured_prune": (lambda m: structured_prune(m, 0.5, INPUT_SHAPE, X, Y, CFG), 1.0),
    "quantize_qat4": (lambda m: quantize_weights(m, 4, X, Y, CFG), 1.0),
    "quantize_ptq8": (lambda m: quantize_weights(m, 8), 1.0),
    "factorize": (lambda m: factorize(m, 0.25, X, Y, CFG), 1.0),
    "distill": (lambda m: distill(m, lambda: SPEC.build(0.5), X, Y, CFG).student, 0.5),
    "fp16_weights": (fp16_weights, 1.0),
    "combination": (_combination, 0.5),
}


@dataclass
class Built:
    teacher: nn.Module
    before: dict[str, torch.Tensor]
    model: nn.Module


@pytest.fixture(scope="module")
def built() -> Callable[[str], Built]:
    """Each technique applied once (lazily) to its own freshly loaded teacher, shared by the module."""
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            teacher = SPEC.load()
            before = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
            cache[name] = Built(teacher, before, TECHNIQUES[name][0](teacher))
        return cache[name]

    return get


def torch_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


def layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in weight_layers(model)]


# --- the shared contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name", TECHNIQUES)
def test_returns_a_new_model_sharing_no_tensors(name, built):
    case = built(name)
    assert case.model is not case.teacher
    teacher_storage = {t.data_ptr() for t in case.teacher.state_dict().values()}
    assert not any(t.data_ptr() in teacher_storage for t in case.model.state_dict().values())


@pytest.mark.parametrize("name", TECHNIQUES)
def test_leaves_its_input_untouched(name, built):
    case = built(name)
    after = case.teacher.state_dict()
    assert after.keys() == case.before.keys()
    changed = [k for k, v in case.before.items() if not torch.equal(v, after[k])]
    assert not changed, f"{name} modified its input: {changed}"


@pytest.mark.parametrize("name", TECHNIQUES)
def test_output_is_one_logit_per_class(name, built):
    assert torch_logits(built(name).model, X_TEST).shape == (len(X_TEST), 10)


@pytest.mark.parametrize("name", TECHNIQUES)
def test_exports_to_onnx_and_onnxruntime_agrees_with_torch(name, built, tmp_path):
    model = built(name).model
    path = export_onnx(model, INPUT_SHAPE, tmp_path / "m.onnx")
    assert path.is_file()
    np.testing.assert_allclose(
        run_logits(open_session(path), X_TEST), torch_logits(model, X_TEST), atol=1e-4, rtol=1e-4
    )


# --- magnitude pruning -----------------------------------------------------------------------


def test_magnitude_prune_reaches_the_requested_sparsity(built):
    assert weight_density(SPEC.load()) > 0.99
    assert weight_density(built("magnitude_prune").model) == pytest.approx(1 - 0.8, abs=0.002)


def test_magnitude_prune_at_zero_sparsity_is_an_equal_copy():
    teacher = SPEC.load()
    copy = magnitude_prune(teacher, 0.0, X, Y, CFG)
    assert copy is not teacher
    expected = teacher.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in copy.state_dict().items())
    np.testing.assert_array_equal(torch_logits(copy, X_TEST), torch_logits(teacher, X_TEST))


# --- structured pruning ----------------------------------------------------------------------


def test_structured_prune_removes_channels_in_multiples_of_eight(built):
    teacher, pruned = SPEC.load(), built("structured_prune").model
    assert count_parameters(pruned) < count_parameters(teacher)
    layers = list(weight_layers(pruned))
    for name, module in layers[:-1]:
        assert module.weight.shape[0] % 8 == 0, f"{name} has {module.weight.shape[0]} outputs"
        assert module.weight.shape[0] < dict(weight_layers(teacher))[name].weight.shape[0]
    assert layers[-1][1].weight.shape[0] == 10


def test_structured_prune_at_high_sparsity_still_narrows_every_hidden_layer():
    teacher = SPEC.load()
    at80 = structured_prune(teacher, 0.8, INPUT_SHAPE, X, Y, CFG)
    at90 = structured_prune(teacher, 0.9, INPUT_SHAPE, X, Y, CFG)
    full = dict(weight_layers(teacher))
    for name, module in list(weight_layers(at90))[:-1]:
        assert module.weight.shape[0] < full[name].weight.shape[0], f"{name} was not pruned at sparsity 0.9"
    assert count_parameters(at90) <= count_parameters(at80)


# --- k-bit quantization ----------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_quantized_weights_are_integer_codes_times_a_per_channel_scale(bits, built):
    if bits == 4:
        model = built("quantize_qat4").model
    elif bits == 8:
        model = built("quantize_ptq8").model
    else:
        model = quantize_weights(SPEC.load(), bits, X, Y, CFG)
    q = 2 ** (bits - 1) - 1
    for name, module in weight_layers(model):
        assert hasattr(module, "weight_scale") and hasattr(module, "weight_bits"), name
        assert int(module.weight_bits) == bits
        assert module.weight_scale.shape == (module.weight.shape[0],)
        assert torch.all(module.weight_scale > 0)
        codes = integer_codes(module)
        assert codes.min() >= -q and codes.max() <= q, name
        scale = module.weight_scale.reshape(-1, *([1] * (module.weight.dim() - 1)))
        np.testing.assert_allclose(
            module.weight.detach().numpy(), (torch.from_numpy(codes).float() * scale).numpy(), rtol=1e-6, atol=0
        )


def test_quantize_weights_rejects_bits_outside_two_to_eight():
    for bits in (1, 9, 16):
        with pytest.raises(ValueError, match="bits"):
            quantize_weights(SPEC.load(), bits)


def test_quantization_aware_training_keeps_pruned_zeros():
    pruned = magnitude_prune(SPEC.load(), 0.5, X, Y, CFG)
    zeros = {name: (m.weight == 0).clone() for name, m in weight_layers(pruned)}
    assert sum(int(z.sum()) for z in zeros.values()) > 0
    quantized = quantize_weights(pruned, 4, X, Y, CFG)
    for name, module in weight_layers(quantized):
        assert torch.all(module.weight[zeros[name]] == 0), f"{name}: a pruned weight came back"
    assert weight_density(quantized) <= weight_density(pruned)


@settings(max_examples=50, deadline=None)
@given(
    w=hnp.arrays(
        np.float32,
        (4, 16),
        elements=st.floats(-10, 10, width=32, allow_nan=False, allow_infinity=False),
    ),
    bits=st.integers(2, 8),
)
def test_rounding_error_is_at_most_half_a_step_inside_the_grid(w, bits):
    weight = torch.from_numpy(w)
    scale = best_scale(weight, bits)
    q = quantize_tensor(weight, scale, bits)
    top = qmax(bits)
    assert scale.shape == (4, 1) and torch.all(scale > 0)
    steps = q / scale
    assert torch.allclose(steps, torch.round(steps), atol=1e-3)
    assert torch.all(torch.round(steps).abs() <= top)
    inside = weight.abs() <= scale * top
    error = (weight - q).abs()
    bound = (scale / 2) * (1 + 1e-5) + 1e-6
    assert torch.all(error[inside] <= bound.expand_as(weight)[inside])
    # Each row's largest weight is always inside the grid or clipped to its edge: never beyond.
    assert torch.all(q.abs() <= scale * top * (1 + 1e-6))


# --- low-rank factorisation ------------------------------------------------------------------


def test_factorize_at_quarter_rank_saves_parameters(built):
    factored = built("factorize").model
    assert count_parameters(factored) < count_parameters(SPEC.load())
    assert any(name.endswith(".first") for name in layer_names(factored))
    assert layer_names(factored)[-1] == "classifier.3"  # the output layer is kept whole


# --- rebuilding from a state dict (the model cache's path) -----------------------------------


@pytest.mark.parametrize(
    "name", ["factorize", "structured_prune", "quantize_qat4", "quantize_ptq8", "magnitude_prune", "combination"]
)
def test_conform_to_state_dict_rebuilds_an_identical_model(name, built):
    original = built(name).model
    state = {k: v.detach().clone() for k, v in original.state_dict().items()}
    rebuilt = conform_to_state_dict(SPEC.build(TECHNIQUES[name][1]), state)
    assert rebuilt.state_dict().keys() == original.state_dict().keys()
    assert all(torch.equal(v, state[k]) for k, v in rebuilt.state_dict().items())
    np.testing.assert_array_equal(torch_logits(rebuilt, X_TEST), torch_logits(original, X_TEST))


# --- distillation ----------------------------------------------------------------------------


def test_distill_keeps_the_student_with_the_better_validation_accuracy():
    teacher = SPEC.load()
    result = distill(teacher, lambda: SPEC.build(0.5), X, Y, CFG)
    assert result.method in ("knowledge distillation", "trained without the teacher")
    if result.method == "knowledge distillation":
        assert result.kd_validation_accuracy >= result.plain_validation_accuracy
        kept = result.kd_validation_accuracy
    else:
        assert result.plain_validation_accuracy > result.kd_validation_accuracy
        kept = result.plain_validation_accuracy
    _, val = split_validation(len(X), seed=CFG.seed)
    assert accuracy(result.student, X[val], Y[val]) == pytest.approx(kept, abs=1e-12)
    assert count_parameters(result.student) < count_parameters(teacher)


def test_a_first_answers_student_is_distilled_only_on_a_stated_bounded_sample(monkeypatch):
    """The quick version trains the distilled student alone (the comparison comes with the final answer), on at
    most ``QUICK_STUDENT_EXAMPLES`` training examples: a seeded sample kept in order, the same on every call."""
    from ecocompress.compressor.steps import student

    result = distill(SPEC.load(), lambda: SPEC.build(0.5), X, Y, CFG, compare=False)
    assert result.method == "knowledge distillation" and result.plain_validation_accuracy is None
    _, val = split_validation(len(X), seed=CFG.seed)
    assert accuracy(result.student, X[val], Y[val]) == pytest.approx(result.kd_validation_accuracy, abs=1e-12)

    monkeypatch.setattr(student, "QUICK_STUDENT_EXAMPLES", 100)
    rows = np.arange(512)  # each example's features are its row number
    x, y = quick_subset(rows[:, None].astype(np.float32), rows % 10, seed=0)
    kept = x[:, 0].astype(int)
    assert len(kept) == len(y) == 100 and len(set(kept)) == 100
    assert list(kept) == sorted(kept) and kept.max() > 400  # spread over the file, in its order
    np.testing.assert_array_equal(y, kept % 10)
    np.testing.assert_array_equal(quick_subset(rows[:, None], rows, seed=0)[1], kept)  # seeded: the same
    assert len(quick_subset(rows[:80, None], rows[:80], seed=0)[1]) == 80  # fewer: all of them


# --- MACs ------------------------------------------------------------------------------------


def test_count_macs_matches_the_hand_count_for_digits_cnn():
    conv1, conv2, fc1, fc2 = 32 * 8 * 8 * 9, 64 * 8 * 8 * 32 * 9, 1024 * 128, 128 * 10
    assert (conv1, conv2, fc1, fc2) == (18432, 1179648, 131072, 1280)
    teacher = SPEC.load()
    assert count_macs(teacher, INPUT_SHAPE) == 1330432
    assert count_macs(teacher, INPUT_SHAPE, effective=True) == pytest.approx(1330432, rel=0.01)


def test_effective_macs_shrink_with_pruning(built):
    pruned = built("magnitude_prune").model
    assert count_macs(pruned, INPUT_SHAPE) == 1330432
    assert count_macs(pruned, INPUT_SHAPE, effective=True) < 1330432
    assert count_macs(built("structured_prune").model, INPUT_SHAPE) < 1330432
