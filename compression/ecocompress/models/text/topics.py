"""``minilm-topics``: a transformer-encoder text classifier at real size (22.6M parameters).

all-MiniLM-L6-v2 (the pretrained encoder of ``models.text.encoder``) with a linear head over its sentence
embedding that names one of the 20 topics of the committed sentence set. The head is trained by
``sample_models/train.py --only minilm-topics`` on the 2,400 training sentences and committed
(``sample_models/minilm-topics.npz``, 30 kB, no pickle); the encoder's weights come from the text package,
sha256-checked. Quality is plain test accuracy on the 600 held-out sentences, each ending in a detail phrase
that no training sentence has.

It is compressed by the same transformer pipeline as the sentence encoder (``pipeline.compress_text``: fewer
layers, fewer heads and feed-forward units, k-bit weights); recovery and distillation train the encoder to
keep the original's embeddings, so the trained head stays valid. The head itself is never pruned.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ecocompress.core.config import SAMPLE_DIR
from ecocompress.core.errors import UnknownModelError
from ecocompress.core.objectives import TEST_ACCURACY
from ecocompress.models.text.encoder import HIDDEN, SENTENCES, SHA256, TOPIC_COUNT, TOPICS_NAME, split_labels
from ecocompress.models.text.kind import MiniLMKind

WEIGHTS = SAMPLE_DIR / f"{TOPICS_NAME}.npz"
CARD = SAMPLE_DIR / f"{TOPICS_NAME}.card.json"


def build_classifier(encoder, classes: int = TOPIC_COUNT):
    """``encoder`` (token ids -> unit sentence embedding) followed by a linear layer to ``classes`` logits."""
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = nn.Linear(HIDDEN, classes)

        def forward(self, input_ids):
            return self.head(self.encoder(input_ids))

    return Classifier()


@functools.lru_cache(maxsize=1)
def _head_weights() -> dict[str, np.ndarray]:
    if not WEIGHTS.exists():
        raise UnknownModelError(f"{WEIGHTS.name} is missing: run `python sample_models/train.py --only {TOPICS_NAME}`.")
    with np.load(WEIGHTS, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@dataclass(frozen=True, eq=False)
class TopicClassifier(MiniLMKind):
    """all-MiniLM-L6-v2 plus a trained topic head, evaluated by test accuracy."""

    name: str = TOPICS_NAME
    title: str = "MiniLM-L6 topic classifier (transformer encoder)"
    task: str = f"sentence topic classification ({TOPIC_COUNT} topics)"
    dataset_name: str = (f"3,000 generated sentences over {TOPIC_COUNT} topics (sample_models/make_sentences.py); "
                         "2,400 train / 600 test, test sentences end in details no training sentence has")
    quality_metric: str = TEST_ACCURACY
    _cache: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def content_hash(self) -> str:
        parts = (SHA256, hashlib.sha256(SENTENCES.read_bytes()).hexdigest(), hashlib.sha256(WEIGHTS.read_bytes()).hexdigest())
        return hashlib.sha256("".join(parts).encode()).hexdigest()

    def card(self) -> dict:
        return json.loads(CARD.read_text()) if CARD.exists() else {}

    def wrap(self, encoder):
        """The encoder with the committed topic head."""
        import torch

        model = build_classifier(encoder)
        model.head.load_state_dict({key: torch.from_numpy(value) for key, value in _head_weights().items()})
        return model.eval()

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        return split_labels()

    def runtime_check(self, which: slice) -> tuple[str, float, Callable[[np.ndarray], float]]:
        """A faster format may lose at most 1 point of accuracy on the training sentences checked."""
        labels = self.labels()[0][which]
        return "accuracy", 0.01, lambda outputs: float((outputs.argmax(1) == labels).mean())

    @property
    def baseline_macs(self) -> int:
        return super().baseline_macs + HIDDEN * TOPIC_COUNT

    @property
    def params(self) -> int:
        return super().params + HIDDEN * TOPIC_COUNT + TOPIC_COUNT
