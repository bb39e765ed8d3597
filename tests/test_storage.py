"""The storage file: loss-free round trip, sizes in the right order, honest descriptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ecocompress.models.registry import get_model
from ecocompress.compressor.storage import MAGIC, _pack_bits, _unpack_bits, fp16_weights, pack, unpack
from ecocompress.compressor.techniques.kbit import quantize_weights
from ecocompress.compressor.techniques.layers import weight_density, weight_layers
from ecocompress.compressor.techniques.pruning import magnitude_prune
from ecocompress.compressor.training import TrainConfig

SPEC = get_model("digits-cnn")
DATA = SPEC.dataset()
X, Y = DATA.x_train[:512], DATA.y_train[:512]
CFG = TrainConfig(epochs=1, batch_size=128, lr=5e-4, shift_pixels=1)


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    teacher = SPEC.load()
    pruned80 = magnitude_prune(teacher, 0.8, X, Y, CFG)
    return {
        "fp32": teacher,
        "fp32 50% sparse": magnitude_prune(teacher, 0.5, X, Y, CFG),
        "4-bit": quantize_weights(teacher, 4, X, Y, CFG),
        "4-bit 80% sparse": quantize_weights(pruned80, 4, X, Y, CFG),
        "3-bit 80% sparse": quantize_weights(pruned80, 3, X, Y, CFG),
    }


def stored_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """What pack promises to keep: every conv/linear weight and bias, as float32."""
    out = {}
    for name, module in weight_layers(model):
        out[f"{name}.weight"] = module.weight.detach().numpy()
        if module.bias is not None:
            out[f"{name}.bias"] = module.bias.detach().numpy()
    return out


def assert_exact(unpacked: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert unpacked.keys() == expected.keys()
    for key, value in expected.items():
        assert unpacked[key].dtype == np.float32 and unpacked[key].shape == value.shape, key
        assert np.array_equal(unpacked[key], value), f"{key} changed in the round trip"


@pytest.mark.parametrize("name", ["fp32", "fp32 50% sparse", "4-bit", "4-bit 80% sparse", "3-bit 80% sparse"])
def test_round_trip_is_exact(name, models):
    model = models[name]
    stored = pack(model)
    assert stored.data.startswith(MAGIC) and stored.size_bytes == len(stored.data)
    assert_exact(unpack(stored.data), stored_arrays(model))


def test_a_real_size_payload_takes_the_fast_preset_and_still_round_trips(monkeypatch):
    """Above ``STRONGEST_UP_TO`` pack uses LZMA's fastest preset (real-size models): same format, exact round trip."""
    import lzma

    from ecocompress.compressor import storage

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 10))
    presets = []
    real = lzma.compress
    monkeypatch.setattr(storage.lzma, "compress", lambda data, preset: presets.append(preset) or real(data, preset=preset))
    small = pack(model)
    monkeypatch.setattr(storage, "STRONGEST_UP_TO", 1_000)  # this small model now counts as real size
    large = pack(model)
    assert presets == [9 | lzma.PRESET_EXTREME, 0]
    assert_exact(unpack(small.data), stored_arrays(model))
    assert_exact(unpack(large.data), stored_arrays(model))


def test_fp16_round_trip_gives_the_fp16_rounded_weights(models):
    teacher = models["fp32"]
    rounded = fp16_weights(teacher)
    stored = pack(rounded, 16)
    unpacked = unpack(stored.data)
    assert_exact(unpacked, stored_arrays(rounded))
    for name, module in weight_layers(teacher):
        assert np.array_equal(unpacked[f"{name}.weight"], module.weight.detach().half().float().numpy())
    assert "fp16" in stored.description
    assert stored.size_bytes < pack(teacher).size_bytes


def test_sizes_are_in_the_expected_order(models):
    size = {name: pack(model).size_bytes for name, model in models.items()}
    assert size["4-bit"] < size["fp32"] / 4
    assert size["4-bit 80% sparse"] < size["4-bit"]
    assert size["3-bit 80% sparse"] < size["4-bit 80% sparse"]
    assert size["fp32 50% sparse"] < size["fp32"]


def test_descriptions_name_the_bit_width_and_the_sparse_mask(models):
    assert pack(models["fp32"]).description == "fp32, LZMA-compressed"
    dense4 = pack(models["4-bit"]).description
    assert "4-bit" in dense4 and "bitmask" not in dense4
    assert "4-bit" in pack(models["4-bit 80% sparse"]).description
    sparse3 = pack(models["3-bit 80% sparse"]).description
    assert "3-bit" in sparse3 and "bitmask" in sparse3
    assert "bitmask" in pack(models["fp32 50% sparse"]).description
    assert weight_density(models["3-bit 80% sparse"]) <= 0.2 + 0.002


def test_pack_does_not_touch_the_model(models):
    model = models["3-bit 80% sparse"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pack(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_unpack_rejects_a_file_that_is_not_ours():
    with pytest.raises(ValueError, match="not an ecocompress storage file"):
        unpack(b"nope")
    with pytest.raises(ValueError):
        unpack(b"")


@settings(max_examples=50, deadline=None)
@given(data=st.data(), bits=st.integers(2, 8), count=st.integers(1, 200))
def test_bit_packer_round_trip(data, bits, count):
    codes = np.array(data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=count, max_size=count)), dtype=np.uint32)
    packed = _pack_bits(codes, bits)
    assert len(packed) == (count * bits + 7) // 8
    np.testing.assert_array_equal(_unpack_bits(packed, bits, count), codes)


def test_corrupt_or_truncated_file_is_a_value_error(tmp_path):
    from ecocompress.compressor.storage import MAGIC

    good = pack(get_model("digits-cnn").load()).data
    for bad in (MAGIC + b"junk", good[:100]):
        with pytest.raises(ValueError, match="corrupt or truncated"):
            unpack(bad)


def test_very_sparse_low_bit_layers_store_gaps_and_byte_codes_exactly_and_smaller():
    """Deep Compression's relative index: at 97% zeros the gaps between kept weights beat a bitmask, and 3-bit
    codes one byte each beat densely packed ones once LZMA has seen them; both forms restore exactly."""
    from ecocompress.compressor import storage

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2000, 300))
    sparse = quantize_weights(magnitude_prune(model, 0.97, np.zeros((1, 2000), np.float32), np.zeros(1, np.int64),
                                              TrainConfig(epochs=0)), 3)
    stored = pack(sparse)
    assert "gaps between kept weights" in stored.description
    assert_exact(unpack(stored.data), stored_arrays(sparse))
    layer = dict(weight_layers(sparse))["0"]
    mask = layer.weight.detach().numpy().reshape(-1) != 0
    assert storage._squeezed(storage._gaps(mask)) < storage._squeezed(np.packbits(mask, bitorder="little").tobytes())


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=60))
@settings(max_examples=60, deadline=None)
def test_gaps_locate_every_kept_weight(gaps):
    """Any gap lengths (runs of 255 and more included) decode to the same positions."""
    from ecocompress.compressor.storage import _gaps, _mask_from_gaps

    mask = np.zeros(sum(gaps) + len(gaps) + 3, bool)
    mask[np.cumsum(np.asarray(gaps) + 1) - 1] = True
    assert np.array_equal(_mask_from_gaps(_gaps(mask), mask.size), mask)
