"""Train the built-in sample models (seeded, one thread) and write weights + model cards.

    python sample_models/train.py [--only NAME]

Weights are written as ``<name>.npz`` (the state dict as plain arrays, no pickle) next to
this file, with a ``<name>.card.json`` model card: data set, split, test accuracy, parameters
and size. The data ships with the project (scikit-learn's digits, the bundled MNIST file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.build.architectures import count_parameters  # noqa: E402
from ecocompress.models.registry import SAMPLE_MODELS  # noqa: E402
from ecocompress.build.training import predict, train_classifier  # noqa: E402

def train_one(name: str) -> dict:
    """Train one sample model from scratch and write its weights and card; returns the card."""
    spec = SAMPLE_MODELS[name]
    config = spec.recipe
    data = spec.dataset()
    model = spec.build()
    started = time.perf_counter()
    train_classifier(
        model,
        data.x_train,
        data.y_train,
        config,
        progress=lambda epoch, loss: print(f"  {name} epoch {epoch + 1}/{config.epochs} loss {loss:.4f}", flush=True),
    )
    seconds = time.perf_counter() - started
    state = {key: value.detach().numpy() for key, value in model.state_dict().items()}
    if spec.weights_fp16:  # rounded before the card's accuracy is measured: the card describes the committed file
        state = {key: value.astype(np.float16) if value.dtype == np.float32 else value for key, value in state.items()}
        model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    accuracy = float((predict(model, data.x_test) == data.y_test).mean())
    np.savez(spec.weights_path, **state)
    card = {
        "name": name,
        "title": spec.title,
        "task": spec.task,
        "architecture": spec.architecture,
        "dataset": data.description,
        "train_examples": int(len(data.y_train)),
        "test_examples": int(len(data.y_test)),
        "input_shape": list(data.input_shape),
        "preprocessing": "pixels scaled to [0, 1], no mean subtraction",
        "augmentation": f"random whole-pixel shifts of up to {config.shift_pixels} px" if config.shift_pixels else "none",
        "test_accuracy_torch": accuracy,
        "params": count_parameters(model),
        "weights_bytes": spec.weights_path.stat().st_size,
        "weights_stored_as": "fp16 (rounded after training; runs in fp32)" if spec.weights_fp16 else "fp32",
        "training": {**config.__dict__, "optimizer": "Adam, cosine schedule", "threads": 1},
        "training_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
    }
    spec.card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{name}: test accuracy {accuracy:.4f}, {card['params']:,} params, {seconds:.0f} s")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SAMPLE_MODELS), action="append")
    args = parser.parse_args()
    for name in args.only or SAMPLE_MODELS:
        train_one(name)


if __name__ == "__main__":
    main()
