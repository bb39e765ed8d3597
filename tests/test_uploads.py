"""Bring your own model: uploads go through the engine; bad uploads are one sentence and lose nothing."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from torch import nn

from ecocompress.service.api import measure_point, measured_points
from ecocompress.cli import main
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import ResultsStore
from ecocompress.models.uploads import UploadError, load_upload, read_onnx

from bad_uploads import bad_data, bad_models

FAST = ["--repeats", "2", "--energy-budget", "1"]


@pytest.fixture(scope="module")
def home(module_home):
    return module_home


@pytest.fixture(autouse=True)
def eco_home(home):
    return home


def _export(model: nn.Module, example: torch.Tensor, path: Path, input_name: str = "features") -> Path:
    torch.onnx.export(model.eval(), (example,), str(path), input_names=[input_name], output_names=["scores"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False)
    return path


class _Scores(nn.Module):
    """A scikit-learn MLPClassifier's weights as a torch module returning one score per class."""

    def __init__(self, clf) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for w, b in zip(clf.coefs_, clf.intercepts_):
            linear = nn.Linear(*w.shape)
            linear.weight.data = torch.tensor(w.T, dtype=torch.float32)
            linear.bias.data = torch.tensor(b, dtype=torch.float32)
            layers += [linear, nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def sklearn_upload(home):
    """A scikit-learn MLP on the wine data (3 classes, 13 features), exported through torch, and a CSV."""
    from sklearn.datasets import load_wine
    from sklearn.neural_network import MLPClassifier

    x, y = load_wine(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=800, random_state=0).fit(x[::2], y[::2])
    model = _export(_Scores(clf), torch.zeros(2, 13), home / "wine-mlp.onnx")
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(13)]).assign(label=y)
    return model, frame


@pytest.fixture(scope="module")
def unconvertible_upload(sklearn_upload):
    """The wine MLP behind scikit-learn's Scaler operator (``ai.onnx.ml``), as skl2onnx writes a pipeline with a
    StandardScaler: onnxruntime runs it, the converter has no PyTorch form for it. The CSV holds raw features."""
    from sklearn.datasets import load_wine

    model_path, _ = sklearn_upload
    x, y = load_wine(return_X_y=True)
    model = onnx.load(model_path)
    scaled = model.graph.input[0].name
    model.graph.input[0].name = "raw"
    model.graph.node.insert(0, onnx.helper.make_node("Scaler", ["raw"], [scaled], domain="ai.onnx.ml",
                                                     offset=x.mean(0).tolist(), scale=(1 / x.std(0)).tolist()))
    model.opset_import.append(onnx.helper.make_opsetid("ai.onnx.ml", 1))
    onnx.checker.check_model(model)
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(13)]).assign(label=y)
    return model.SerializeToString(), frame


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.mark.slow
def test_sklearn_mlp_upload_sweep_report(sklearn_upload, home, capsys):
    model, frame = sklearn_upload
    (home / "wine.csv").write_bytes(_csv(frame))
    argv = ["--model", str(model), "--data", str(home / "wine.csv")]
    assert main(["sweep", *argv, "--sparsity", "0,0.5", "--bits", "32,8", *FAST]) == 0
    capsys.readouterr()
    assert main(["run", *argv, "--student", "0.5", "--bits", "8", *FAST, "--json"]) == 0
    student = json.loads(capsys.readouterr().out)
    assert "student x0.5" in student["technique_notes"] and student["params"] < 0.6 * 2_691
    assert main(["report", *argv, *FAST, "--out", str(home / "wine.html"), "--artifacts", str(home / "wine-model")]) == 0
    html = (home / "wine.html").read_text()
    assert "uploaded ONNX classifier" in html and "data:image/png;base64," in html
    name = student["model"]
    labels = {r.label for r in measured_points(name)}
    assert {"fp32 baseline", "8-bit", "50% sparse", "50% sparse, 8-bit", "student x0.5, 8-bit"} <= labels
    # the file converts to PyTorch (compressor.convert), so pruning is fine-tuned on the training split as for the samples
    pruned = next(r for r in measured_points(name) if r.label == "50% sparse")
    assert "global magnitude pruning to 50% zeros in 3 stages, fine-tuned" in pruned.technique_notes


@pytest.mark.slow
def test_lenet5_reexported_as_plain_onnx_goes_through(home):
    from ecocompress.compressor.export import export_onnx
    from ecocompress.models.registry import get_model

    spec = get_model("mnist-lenet5")
    data = spec.dataset()
    path = export_onnx(spec.load(), data.input_shape, home / "lenet5.onnx")
    npz = _npz_file(home, data)
    upload = load_upload(path.read_bytes(), "lenet5.onnx", npz.read_bytes(), "mnist.npz")
    assert upload.info.input_shape == (1, 28, 28) and upload.info.classes == 10
    argv = ["--model", str(path), "--data", str(npz), *FAST]
    assert main(["sweep", *argv, "--bits", "32,8"]) == 0
    records = {r.label: r for r in measured_points(upload.name)}
    base, int8 = records["fp32 baseline"], records["8-bit"]
    assert base.accuracy > 0.97 and abs(int8.accuracy - base.accuracy) < 0.02
    assert int8.storage_bytes < base.storage_bytes / 3
    assert main(["report", *argv, "--bits", "8", "--out", str(home / "lenet5.html")]) == 0
    assert "8-bit" in (home / "lenet5.html").read_text()


def _npz_file(home: Path, data) -> Path:
    path = home / "mnist.npz"
    np.savez(path, x=data.x_test[:1500], y=data.y_test[:1500])
    return path


def test_a_converted_upload_gets_every_technique_fine_tuned(sklearn_upload, fast_settings):
    """The file becomes a torch module that reproduces it (``compressor.convert``), so structured pruning, low rank and
    per-layer settings run as for the samples, fine-tuned on the training split; the baseline stays the file."""
    from ecocompress.compressor.convert import CONVERTER, TOLERANCE

    model, frame = sklearn_upload
    spec = load_upload(model.read_bytes(), "wine-mlp.onnx", _csv(frame), "wine.csv")
    assert spec.converts and spec.per_layer_allocation and CONVERTER in spec.summary()
    conversion = spec.conversion
    assert conversion.examples == len(spec.dataset().y_test)
    assert conversion.max_difference <= TOLERANCE * max(1.0, conversion.scale)
    base = measure_point(spec.name, CompressionPoint(), fast_settings)
    pruned = measure_point(spec.name, CompressionPoint(sparsity=0.5, structured=True), fast_settings)
    assert "structured pruning removed" in pruned.technique_notes and "fine-tuned" in pruned.technique_notes
    assert pruned.params < 0.6 * base.params  # both count the torch module's parameters, biases included
    assert pruned.accuracy >= base.accuracy - 0.1  # 53 held-out wines: one is 1.9 points


def test_two_per_layer_points_are_two_points(sklearn_upload, fast_settings, monkeypatch):
    """The chart's one-record-per-point rule keys by the whole setting: per-layer points that share the overall
    sparsity and bits but not their layers' settings are both listed."""
    from dataclasses import replace

    from ecocompress.service import api

    model, frame = sklearn_upload
    spec = load_upload(model.read_bytes(), "wine-mlp.onnx", _csv(frame), "wine.csv")
    base = measure_point(spec.name, CompressionPoint(), fast_settings)  # measured by the test above: from the store
    layers = [replace(base, label=f"per layer {i}", sparsity=0.5, bits=8,
                      layer_settings=(("gemm0", 0.5, first), ("gemm2", 0.5, 12 - first)))
              for i, first in enumerate((8, 4))]
    monkeypatch.setattr(api, "_series_runs", lambda *args: [base, *layers])
    assert [r.label for r in measured_points(spec.name, fast_settings)] == ["fp32 baseline", "per layer 0", "per layer 1"]


def test_an_upload_that_does_not_convert_names_the_operator_and_keeps_post_training(unconvertible_upload, fast_settings):
    model, frame = unconvertible_upload
    spec = load_upload(model, "wine-pipeline.onnx", _csv(frame), "wine.csv")
    assert not spec.converts and spec.conversion.operator == "Scaler"
    assert "the operator Scaler has no conversion to PyTorch" in spec.summary()
    with pytest.raises(InvalidParameterError, match="Structured pruning needs the model's training code.*Scaler"):
        measure_point(spec.name, CompressionPoint(sparsity=0.5, structured=True))
    int8 = measure_point(spec.name, CompressionPoint(bits=8), fast_settings)
    assert int8.accuracy > 0.8 and "8-bit" in int8.label


@pytest.mark.slow
def test_explore_greys_out_what_an_upload_cannot_do_before_anything_runs(unconvertible_upload):
    """The structured toggle and the low-rank slider are disabled, saying why, while the student is full width (the
    refusal above, asked beforehand); a student is trained here, so choosing one enables both."""
    from streamlit.testing.v1 import AppTest

    model, frame = unconvertible_upload
    spec = load_upload(model, "wine-pipeline.onnx", _csv(frame), "wine.csv")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=240)
    at.session_state["uploads"] = {spec.name: spec}  # what the upload page keeps for its own session
    at.session_state["model"] = spec.name
    at.session_state["repeats"], at.session_state["energy_budget"] = 2, 1
    at.session_state["rank"], at.session_state["bits"] = 0.5, 8  # carried over from a sample model
    at.run()
    at.switch_page("pages/views/explore.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    toggle, rank = at.toggle(key="structured"), at.select_slider(key="rank")
    assert rank.value == 1.0 and at.select_slider(key="bits").value == 8  # only the refused knob is switched off
    assert not at.select_slider(key="bits").disabled and not at.slider(key="sparsity").disabled
    assert toggle.disabled and not toggle.value and toggle.help.startswith("Structured pruning needs the model's training code")
    assert rank.disabled and rank.help.startswith("Low\\-rank factorisation needs the model's training code")  # Markdown-escaped
    at.select_slider(key="student").set_value(0.5).run()  # the student is measured here, as a user would wait for it
    assert not at.exception, at.exception
    assert not at.toggle(key="structured").disabled and not at.select_slider(key="rank").disabled


def test_explore_offers_every_knob_on_an_upload_that_converts(sklearn_upload):
    from streamlit.testing.v1 import AppTest

    model, frame = sklearn_upload
    spec = load_upload(model.read_bytes(), "wine-mlp.onnx", _csv(frame), "wine.csv")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=240)
    at.session_state["uploads"] = {spec.name: spec}
    at.session_state["model"] = spec.name
    at.session_state["repeats"], at.session_state["energy_budget"] = 2, 1
    at.run()
    at.switch_page("pages/views/explore.py")
    at.run()
    assert not at.toggle(key="structured").disabled and not at.select_slider(key="rank").disabled
    at.slider(key="sparsity").set_value(0.5).run()
    at.toggle(key="structured").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.subheader[0].value.startswith("50% structured sparse"), at.subheader[0].value


# ---- bad input: one sentence, exit code 2, nothing stored changes --------------------------------------------------

class _Payload:
    """Unpickling this creates a file: the proof that a pickle was executed."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


MODEL_CASES = [name for name, _, _ in bad_models(b"model")]
DATA_CASES = ["nolabel.csv", "nan.csv", "text.csv", "narrow.csv", "labels.csv", "header.csv", "empty.csv", "data.xlsx"]


def _case(cases: list[tuple[str, bytes, str]], filename: str) -> tuple[bytes, str]:
    return next((content, message) for name, content, message in cases if name == filename)


@pytest.mark.parametrize("filename", MODEL_CASES)
def test_bad_model_is_one_sentence_and_exit_2(sklearn_upload, home, capsys, filename):
    model, frame = sklearn_upload
    content, message = _case(bad_models(model.read_bytes()), filename)
    bad = home / "bad" / filename
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(content)
    (home / "wine.csv").write_bytes(_csv(frame))
    with pytest.raises(UploadError, match=None) as caught:
        load_upload(bad.read_bytes(), filename, _csv(frame), "wine.csv", register=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    before = ResultsStore().count()
    assert main(["run", "--model", str(bad), "--data", str(home / "wine.csv"), *FAST]) == 2
    assert message in capsys.readouterr().err
    assert ResultsStore().count() == before


@pytest.mark.parametrize("filename", DATA_CASES)
def test_bad_data_is_one_sentence_and_exit_2(sklearn_upload, home, capsys, filename):
    model, frame = sklearn_upload
    cases = [*bad_data(frame, classes=3), ("data.xlsx", _csv(frame), "is neither CSV nor NPZ")]
    content, message = _case(cases, filename)
    bad = home / "bad" / filename
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(content)
    with pytest.raises(UploadError) as caught:
        load_upload(model.read_bytes(), "wine-mlp.onnx", bad.read_bytes(), filename, register=False)
    assert message in str(caught.value), str(caught.value)
    before = ResultsStore().count()
    assert main(["run", "--model", str(model), "--data", str(bad), *FAST]) == 2
    assert message in capsys.readouterr().err
    assert ResultsStore().count() == before


def test_a_pickle_payload_is_never_executed(sklearn_upload, tmp_path):
    model, frame = sklearn_upload
    _Payload.marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload())
    attempts = [
        lambda: load_upload(payload, "model.pkl", _csv(frame), "wine.csv", register=False),
        lambda: load_upload(payload, "model.onnx", _csv(frame), "wine.csv", register=False),  # disguised
        lambda: load_upload(model.read_bytes(), "wine-mlp.onnx", payload, "data.npz", register=False),
    ]
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([_Payload()], dtype=object), y=np.array([0]))
    attempts.append(lambda: load_upload(model.read_bytes(), "wine-mlp.onnx", buffer.getvalue(), "data.npz", register=False))
    for attempt in attempts:
        with pytest.raises(UploadError, match="pickle|never loads|not a readable"):
            attempt()
    assert not _Payload.marker.exists()
    # the control: the same bytes, unpickled, do run code
    pickle.loads(payload).close()
    assert _Payload.marker.exists()


def test_size_limit_is_stated(sklearn_upload, monkeypatch):
    model, _ = sklearn_upload
    monkeypatch.setenv("ECOCOMPRESS_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(UploadError, match=r"the limit is 0 MB \(set ECOCOMPRESS_MAX_UPLOAD_MB"):
        read_onnx(model.read_bytes(), "wine-mlp.onnx")


def test_external_weights_are_refused(sklearn_upload, tmp_path):
    model, _ = sklearn_upload
    proto = onnx.load(str(model))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    with pytest.raises(UploadError, match="keeps its weights in a separate file"):
        read_onnx((tmp_path / "ext.onnx").read_bytes(), "ext.onnx")
