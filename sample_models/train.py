"""Train the built-in sample models (seeded, one thread) and write weights + model cards.

    python sample_models/train.py [--only NAME]

Weights are written as ``<name>.npz`` (the state dict as plain arrays, no pickle) next to
this file, with a ``<name>.card.json`` model card: data set, split, test accuracy, parameters
and size. The data ships with the project (scikit-learn's digits, the bundled MNIST file, the
generated sentences of ``make_sentences.py``). ``minilm-topics`` trains only its head: the
pretrained all-MiniLM-L6-v2 encoder comes from the text package and is not changed.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.compressor.architectures import count_parameters  # noqa: E402
from ecocompress.models.registry import SAMPLE_MODELS  # noqa: E402
from ecocompress.compressor.training import predict, train_classifier  # noqa: E402

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


HEAD_STEPS, HEAD_LR, HEAD_WEIGHT_DECAY = 300, 0.05, 1e-4


def train_topic_head() -> dict:
    """Fit ``minilm-topics``' linear head on the frozen encoder's embeddings of the training sentences (full batch,
    Adam, seeded) and write its weights and card; returns the card."""
    from ecocompress.models.text import encoder as minilm
    from ecocompress.models.text.topics import CARD, WEIGHTS, build_classifier
    from ecocompress.models.registry import get_model

    torch.manual_seed(0)
    spec = get_model(minilm.TOPICS_NAME)
    (train_ids, test_ids), (y_train, y_test) = spec.dataset_ids(), spec.labels()
    started = time.perf_counter()
    encoder = minilm.load_teacher()
    with torch.no_grad():
        features = torch.from_numpy(minilm.embed(encoder, train_ids))
    model = build_classifier(encoder)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=HEAD_LR, weight_decay=HEAD_WEIGHT_DECAY)
    targets = torch.from_numpy(y_train)
    for step in range(HEAD_STEPS):
        loss = torch.nn.functional.cross_entropy(model.head(features), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    np.savez(WEIGHTS, **{key: value.detach().numpy() for key, value in model.head.state_dict().items()})
    accuracy = float((predict(model.eval(), test_ids) == y_test).mean())
    card = {
        "name": spec.name,
        "title": spec.title,
        "task": spec.task,
        "architecture": "all-MiniLM-L6-v2 encoder (6 layers, 12 heads, 384 wide, mean pooling) + linear head",
        "dataset": spec.dataset_name,
        "train_examples": int(len(y_train)),
        "test_examples": int(len(y_test)),
        "input_shape": [minilm.SEQ_LEN],
        "preprocessing": f"all-MiniLM-L6-v2's WordPiece tokenizer, {minilm.SEQ_LEN} tokens, 0-padded",
        "test_accuracy_torch": accuracy,
        "params": spec.params,
        "weights_bytes": WEIGHTS.stat().st_size,
        "weights_stored_as": "fp32 head; the encoder's weights come from the text package (sha256-checked)",
        "training": {"trained": "head only, encoder frozen", "steps": HEAD_STEPS, "lr": HEAD_LR,
                     "weight_decay": HEAD_WEIGHT_DECAY, "batch": "all training sentences", "optimizer": "Adam",
                     "seed": 0, "final_loss": round(loss.item(), 4)},
        "training_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
    }
    CARD.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{spec.name}: test accuracy {accuracy:.4f}, {card['params']:,} params, {seconds:.0f} s")
    return card


TRAINERS = {**{name: functools.partial(train_one, name) for name in SAMPLE_MODELS}, "minilm-topics": train_topic_head}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(TRAINERS), action="append")
    args = parser.parse_args()
    for name in args.only or TRAINERS:
        TRAINERS[name]()


if __name__ == "__main__":
    main()
