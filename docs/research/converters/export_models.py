"""Build the test classifiers in torch and export each to ONNX, two ways where the exporter allows.

Writes /tmp/conv_onnx/<model>__<exporter>.onnx and /tmp/conv_onnx/index.json (input shape, dtype,
classes, which output is the logits). Exporters: ``dynamo`` (torch.onnx.export(dynamo=True), opset 18,
torch.export.Dim batch, the way ecocompress's own compressor/export.py does it) and ``legacy``
(torch.onnx.export(dynamo=False), opset 17, dynamic_axes batch). The MLP is also written by skl2onnx
(sklearn MLPClassifier, zipmap=False), the way a user following the upload page's advice would.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

torch.set_num_threads(1)
OUT = Path("/tmp/conv_onnx")
OUT.mkdir(exist_ok=True)
torch.manual_seed(0)


# ---- torchvision-style ResNet-18 (same module layout as torchvision.models.resnet18) ----
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(64, 2)
        self.layer2 = self._make(128, 2, 2)
        self.layer3 = self._make(256, 2, 2)
        self.layer4 = self._make(512, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make(self, planes, blocks, stride=1):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_bn(model):
    """Non-trivial BN statistics so a converter that drops/mis-folds BN shows a difference."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


class MLP(nn.Module):
    """sklearn-like MLP on 64 tabular features: Linear/ReLU stack."""

    def __init__(self, d_in=64, hidden=(128, 64), classes=10):
        super().__init__()
        layers, prev = [], d_in
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class TransformerClassifier(nn.Module):
    """Float sequence (B, 16, 32) -> Linear proj -> 2-layer TransformerEncoder(d128, 4 heads) -> mean -> Linear."""

    def __init__(self, d_in=32, d_model=128, heads=4, layers=2, classes=10):
        super().__init__()
        self.proj = nn.Linear(d_in, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=256, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)
        # TransformerEncoder deep-copies one layer: give each its own weights (else exporters dedupe them)
        with torch.no_grad():
            for p in self.encoder.parameters():
                p.add_(torch.randn_like(p) * 0.05)

    def forward(self, x):
        return self.head(self.encoder(self.proj(x)).mean(dim=1))


def sample_models():
    from ecocompress.models.samples import SAMPLE_MODELS

    shapes = {"digits-cnn": (1, 8, 8), "mnist-lenet300": (1, 28, 28), "mnist-lenet5": (1, 28, 28)}
    return {name: (SAMPLE_MODELS[name].load(), shapes[name]) for name in SAMPLE_MODELS}


def export(model, shape, path, exporter):
    model.eval()
    example = torch.randn(2, *shape)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                              input_names=["input"], output_names=["logits"], dynamic_shapes=({0: batch},),
                              opset_version=18, verbose=False)
        else:
            extra = {}
            if exporter == "legacy-bn":  # keep BatchNormalization nodes instead of folding them into Conv
                extra = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
            torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=17, **extra)
    onnx.checker.check_model(str(path))


def export_sklearn(index):
    sys.path.insert(0, "/tmp/convlib/skl")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=60, random_state=0).fit(x, y)
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    path = OUT / "sklearn-mlp__skl2onnx.onnx"
    onnx.save(onx, str(path))
    outs = [o.name for o in onx.graph.output]
    index["sklearn-mlp__skl2onnx"] = dict(path=str(path), shape=[64], classes=10, output=outs.index("probabilities"),
                                          output_kind="probabilities", ops=sorted({n.op_type for n in onx.graph.node}))
    # The same file cut down to its probabilities output (drops ArgMax/ArrayFeatureExtractor, the ai.onnx.ml label path).
    trimmed = OUT / "sklearn-mlp__skl2onnx-trimmed.onnx"
    onnx.utils.extract_model(str(path), str(trimmed), [onx.graph.input[0].name], ["probabilities"])
    ops = sorted({n.op_type for n in onnx.load(str(trimmed)).graph.node})
    index["sklearn-mlp__skl2onnx-trimmed"] = dict(path=str(trimmed), shape=[64], classes=10, output=0,
                                                  output_kind="probabilities", ops=ops)


def main():
    index = {}
    models = dict(sample_models())
    models["resnet18"] = (randomize_bn(ResNet18()), (3, 32, 32))
    models["mlp"] = (MLP(), (64,))
    models["transformer"] = (TransformerClassifier(), (16, 32))
    for name, (model, shape) in models.items():
        for exporter in ("dynamo", "legacy") + (("legacy-bn",) if name == "resnet18" else ()):
            key = f"{name}__{exporter}"
            path = OUT / f"{key}.onnx"
            try:
                export(model, shape, path, exporter)
                ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
                index[key] = dict(path=str(path), shape=list(shape), classes=10, output=0, output_kind="logits", ops=ops)
                print(f"{key}: ok ({len(ops)} op types)")
            except Exception as exc:  # noqa: BLE001
                index[key] = dict(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                print(f"{key}: FAILED {index[key]['error']}")
                traceback.print_exc(limit=2)
    try:
        export_sklearn(index)
        print("sklearn-mlp__skl2onnx: ok")
    except Exception as exc:  # noqa: BLE001
        index["sklearn-mlp__skl2onnx"] = dict(error=f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
    (OUT / "index.json").write_text(json.dumps(index, indent=1))


if __name__ == "__main__":
    main()
