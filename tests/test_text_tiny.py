"""The text model's code on a tiny, randomly initialised encoder of the same architecture (no extra, no download).

tests/test_minilm.py checks the real all-MiniLM-L6-v2 where the text extra is installed; these tests run
everywhere (CI included) and check what does not depend on the pretrained weights: the encoder's shape and
export, and that each technique returns a new, smaller or coarser model and leaves its input alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecocompress.models.text import encoder as minilm
from ecocompress.models.text import pipeline as text_pipeline

LAYERS, HEADS, FFN = 6, 2, 64  # the real layer count (students keep 3 of 6), tiny widths


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return minilm.build_encoder([HEADS] * LAYERS, [FFN] * LAYERS).eval()


@pytest.fixture(scope="module")
def ids():
    rng = np.random.default_rng(0)
    out = rng.integers(1000, 5000, size=(16, minilm.SEQ_LEN)).astype(np.int64)
    out[:, 20:] = 0  # padding, as the tokenizer leaves it
    return out


def test_the_encoder_gives_unit_sentence_embeddings_and_ignores_padding(tiny, ids):
    emb = minilm.embed(tiny, ids)
    assert emb.shape == (16, minilm.HIDDEN)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    longer_padding = ids.copy()
    longer_padding[:, 25:] = 0  # already padding: nothing changes
    assert np.allclose(minilm.embed(tiny, longer_padding), emb, atol=1e-6)


def test_onnx_export_of_the_encoder_matches_torch(tiny, ids, tmp_path):
    from ecocompress.compressor.export import export_onnx
    from ecocompress.measure.session import open_session, run_logits

    path = export_onnx(tiny, (minilm.SEQ_LEN,), tmp_path / "tiny.onnx", input_dtype=torch.int64)
    assert np.abs(run_logits(open_session(path), ids) - minilm.embed(tiny, ids)).max() < 1e-5


@pytest.mark.parametrize(
    ("technique", "setting"),
    [(text_pipeline.quantize_text, 4), (text_pipeline.magnitude_prune_linear, 0.5), (text_pipeline.prune_heads_and_ffn, 0.5)],
    ids=["4-bit", "50% sparse", "half the heads and units"],
)
def test_each_technique_returns_a_new_model_and_leaves_the_input_alone(tiny, ids, technique, setting):
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    compressed = technique(tiny, setting)
    assert compressed is not tiny
    assert all((before[k] == v).all() for k, v in tiny.state_dict().items())
    emb = minilm.embed(compressed, ids)
    assert emb.shape == (16, minilm.HIDDEN) and np.isfinite(emb).all()
    assert minilm.fidelity(emb, minilm.embed(tiny, ids)).cosine > 0.3  # changed, not destroyed


def test_structured_pruning_removes_heads_and_units_physically(tiny):
    heads, ffn = minilm.shape_of(text_pipeline.prune_heads_and_ffn(tiny, 0.5))
    assert heads == [HEADS // 2] * LAYERS and ffn == [FFN // 2] * LAYERS
    assert minilm.macs_for(heads, ffn) == minilm.macs_for([HEADS] * LAYERS, [FFN] * LAYERS) // 2


def test_a_student_keeps_fewer_layers_and_learns_from_the_teachers_embeddings(tiny, ids):
    student = text_pipeline.fewer_layers(tiny, 0.5)
    assert len(student.layers) == 3
    targets = minilm.embed(tiny, ids)
    before = minilm.fidelity(minilm.embed(student, ids), targets).cosine
    trained = text_pipeline.recover(student, ids, targets, steps=30, lr=1e-3)
    assert minilm.fidelity(minilm.embed(trained, ids), targets).cosine > before


def test_low_rank_is_refused_in_one_sentence():
    from ecocompress.core.errors import InvalidParameterError
    from ecocompress.core.points import CompressionPoint

    with pytest.raises(InvalidParameterError, match="Low-rank factorisation is not offered for the text model"):
        text_pipeline.check_point(CompressionPoint(rank_ratio=0.5))


def test_the_topic_classifier_puts_a_head_on_the_encoder_and_exports_logits(tiny, ids, tmp_path):
    from ecocompress.compressor.export import export_onnx
    from ecocompress.measure.session import open_session, run_logits
    from ecocompress.models.text.topics import build_classifier

    model = build_classifier(tiny).eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(ids)).numpy()
        assert np.allclose(logits, model.head(torch.from_numpy(minilm.embed(tiny, ids))).numpy(), atol=1e-6)
    assert logits.shape == (16, minilm.TOPIC_COUNT)
    path = export_onnx(model, (minilm.SEQ_LEN,), tmp_path / "classifier.onnx", input_dtype=torch.int64)
    assert np.abs(run_logits(open_session(path), ids) - logits).max() < 1e-5


def test_topic_labels_follow_the_file_order_and_every_topic_is_held_out():
    labels = minilm.topic_labels(3000)
    assert labels[0] == 0 and labels[149] == 0 and labels[150] == 1 and labels[-1] == minilm.TOPIC_COUNT - 1
    assert np.bincount(labels[np.arange(3000) % 5 == 0]).tolist() == [30] * minilm.TOPIC_COUNT
