import shutil

import numpy as np
import pytest
import torch

from ecocompress.core import data as data_mod
from ecocompress.core.errors import DataIntegrityError, UnknownModelError
from ecocompress.models.registry import get_model, list_models
from ecocompress.compressor.training import predict


def test_registry_and_cards():
    assert [m.name for m in list_models()] == ["digits-cnn", "mnist-lenet300", "mnist-lenet5", "mnist-resnet18"]
    for spec in list_models():
        card = spec.card()
        assert card["name"] == spec.name
        assert card["params"] == spec.params
        for key in ("dataset", "test_accuracy_torch", "train_examples", "test_examples", "weights_bytes"):
            assert key in card


@pytest.mark.parametrize("name", ["digits-cnn", "mnist-lenet300", "mnist-lenet5", "mnist-resnet18"])
def test_committed_weights_reproduce_the_card(name):
    spec = get_model(name)
    data = spec.dataset()
    acc = float((predict(spec.load(), data.x_test) == data.y_test).mean())
    assert acc == pytest.approx(spec.card()["test_accuracy_torch"], abs=1e-9)


def test_the_real_size_sample_is_real_size_and_stored_as_fp16():
    """Issue 30: a ResNet-class sample of at least 10M parameters, its file half the fp32 size, run in fp32."""
    spec = get_model("mnist-resnet18")
    card = spec.card()
    assert spec.params == card["params"] >= 10_000_000
    assert card["weights_bytes"] < 2.1 * spec.params and card["weights_stored_as"].startswith("fp16")
    assert all(p.dtype == torch.float32 for p in spec.load().parameters())


def test_mnist_is_the_full_test_set():
    mnist = data_mod.load_mnist()
    assert mnist.x_train.shape == (60000, 1, 28, 28) and mnist.x_test.shape == (10000, 1, 28, 28)
    assert mnist.x_test.dtype == np.float32 and 0.0 <= mnist.x_test.min() and mnist.x_test.max() <= 1.0
    assert mnist.num_classes == 10


def test_digits_split_is_fixed():
    digits = data_mod.load_digits()
    assert len(digits.y_test) == 360 and len(digits.y_train) == 1437
    assert digits.input_shape == (1, 8, 8)


def test_tampered_mnist_is_refused(tmp_path):
    bad = tmp_path / "mnist.npz"
    shutil.copyfile(data_mod.MNIST_PATH, bad)
    with open(bad, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(DataIntegrityError, match="sha256"):
        data_mod.load_mnist(bad)
    with pytest.raises(DataIntegrityError, match="missing"):
        data_mod.load_mnist(tmp_path / "absent.npz")


def test_unknown_model_message():
    with pytest.raises(UnknownModelError) as info:
        get_model("resnet")
    assert str(info.value).startswith("Unknown model 'resnet'; choose one of digits-cnn")
