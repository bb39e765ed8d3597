"""torch -> ONNX, as one self-contained file with a dynamic batch axis.

Uses torch's supported (dynamo) exporter with ``external_data=False`` so the weights live in
the ``.onnx`` file itself: its size on disk is the artifact's true size.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ecocompress.compressor.training import TRAIN_THREADS, torch_threads

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path, *, input_dtype: torch.dtype = torch.float32) -> Path:
    """Export ``model`` (eval mode) for inputs of shape ``(batch, *input_shape)`` to ``path``.

    Integer inputs (token ids) get an example of ones, so no example position is padding.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if input_dtype.is_floating_point:
        example = torch.zeros((2, *input_shape), dtype=input_dtype)
    else:
        example = torch.ones((2, *input_shape), dtype=input_dtype)
    batch = torch.export.Dim("batch", min=1)
    model = model.eval()
    quiet = io.StringIO()
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with torch_threads(TRAIN_THREADS), warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                verbose=False,
            )
    finally:
        onnx_logger.setLevel(level)
    onnx.checker.check_model(str(path))
    return path


def label_onnx(path: Path, metadata: dict[str, str]) -> None:
    """Add ``metadata`` to the file's ``metadata_props`` (what a point did, for whoever opens the file)."""
    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def drop_unread_initializers(model: onnx.ModelProto) -> None:
    """Remove the initializers no node reads any more (after a graph rewrite), so the file holds each weight once."""
    read = {name for node in model.graph.node for name in node.input}
    for tensor in [t for t in model.graph.initializer if t.name not in read]:
        model.graph.initializer.remove(tensor)
