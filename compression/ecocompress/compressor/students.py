"""Black-box distillation for uploaded ONNX models: a teacher we can only run, a student we build.

An upload that converts to PyTorch (``compressor.convert``) is narrowed like the samples; one that
does not cannot be pruned, fine-tuned or narrowed, but we can run it: ``OnnxTeacher`` wraps the
ONNX file in onnxruntime behind a torch module's call, so the same distillation code as for the
samples trains a student on its outputs. The
student is an MLP for flat inputs and a small CNN for images, sized to about ``width`` x the
teacher's parameters (rounded to multiples of 8 channels or units).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.architectures import count_parameters


class OnnxTeacher(nn.Module):
    """Runs an ONNX classifier in onnxruntime; gives logits-like scores, no gradients."""

    def __init__(self, onnx_bytes: bytes, input_name: str, output_index: int) -> None:
        super().__init__()
        self._bytes, self._input, self._output = onnx_bytes, input_name, output_index
        self._session = None

    def __deepcopy__(self, memo: dict) -> "OnnxTeacher":
        return self  # stateless for callers; a session cannot be deep-copied

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = ort.InferenceSession(self._bytes, options, providers=["CPUExecutionProvider"])
        scores = self._session.run(None, {self._input: x.detach().cpu().numpy().astype(np.float32)})[self._output]
        scores = torch.from_numpy(np.asarray(scores, dtype=np.float32))
        if bool(((scores >= 0) & (scores <= 1)).all()) and torch.allclose(scores.sum(1), torch.ones(len(scores)), atol=1e-3):
            return torch.log(scores.clamp_min(1e-8))  # probabilities: turn them into logits for the KD softmax
        return scores


def _mlp(features: int, classes: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(),
        nn.Linear(hidden // 2, classes),
    )


class SmallCNN(nn.Module):
    """conv(c) - conv(2c) - max-pool - fc(4c) - classes; for inputs shaped (channels, height, width)."""

    def __init__(self, shape: tuple[int, int, int], classes: int, channels: int) -> None:
        super().__init__()
        c_in, h, w = shape
        self.features = nn.Sequential(
            nn.Conv2d(c_in, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * channels * (h // 2) * (w // 2), 4 * channels), nn.ReLU(),
            nn.Linear(4 * channels, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def student_for(input_shape: tuple[int, ...], classes: int, param_budget: float) -> nn.Module:
    """The largest student of the right family whose parameter count stays within ``param_budget``."""
    image = len(input_shape) == 3 and min(input_shape[1:]) >= 4
    sizes = range(8, 257, 8) if image else range(8, 2049, 8)
    build = (lambda n: SmallCNN(input_shape, classes, n)) if image else (
        lambda n: _mlp(int(np.prod(input_shape)), classes, n)
    )
    chosen = build(sizes[0])
    for n in sizes[1:]:
        candidate = build(n)
        if count_parameters(candidate) > param_budget:
            break
        chosen = candidate
    return chosen
