"""Datasets that ship with the project: scikit-learn's 8x8 digits and a checksummed MNIST copy.

Nothing is downloaded: the digits come with scikit-learn, MNIST lives in
``sample_models/data/mnist.npz`` and is verified against its published sha256 on load.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecocompress.core.config import SAMPLE_DATA_DIR
from ecocompress.core.errors import DataIntegrityError, UnknownModelError

DATA_DIR = SAMPLE_DATA_DIR
MNIST_PATH = DATA_DIR / "mnist.npz"
MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """A labelled classification dataset, already preprocessed to the model's float32 input."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example (without the batch axis)."""
        return tuple(self.x_test.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def load_digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits, stratified 80/20 split (seeded), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=y
    )
    return Dataset(
        name="digits",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        description=(
            "scikit-learn's bundled UCI 8x8 handwritten digits; stratified split, "
            f"{len(y_train)} train / {len(y_test)} test images (seed {DIGITS_SPLIT_SEED})"
        ),
    )


@functools.lru_cache(maxsize=None)
def load_mnist(path: Path = MNIST_PATH) -> Dataset:
    """MNIST 60,000/10,000 from the bundled npz, verified by sha256, pixels scaled to [0, 1]."""
    if not path.is_file():
        raise DataIntegrityError(
            f"The MNIST file {path} is missing; restore it from the repository (git checkout -- {path.name})."
        )
    actual = sha256_of(path)
    if actual != MNIST_SHA256:
        raise DataIntegrityError(
            f"The MNIST file {path} has sha256 {actual[:16]}..., expected {MNIST_SHA256[:16]}...; "
            "restore it from the repository."
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}

    def prep(images: np.ndarray) -> np.ndarray:
        return (images.astype(np.float32) / 255.0)[:, None, :, :]

    return Dataset(
        name="mnist",
        x_train=prep(arrays["x_train"]),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=prep(arrays["x_test"]),
        y_test=arrays["y_test"].astype(np.int64),
        description="MNIST (LeCun, Cortes, Burges), 60,000 train / 10,000 test images, 28x28",
    )


LOADERS = {"digits": load_digits, "mnist": load_mnist}


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown dataset {name!r}; choose one of {', '.join(sorted(LOADERS))}."
        ) from None
    return loader()
