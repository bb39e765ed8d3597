"""Bring your own model: an ONNX classifier and labeled data, parsed safely and checked plainly.

Uploads are *parsed*, never executed: ONNX is a protobuf (read with ``onnx``), CSV is text (read
with pandas), NPZ is read with ``allow_pickle=False``. Pickle-based files (``.pt``, ``.pkl``, ...)
are refused before anything reads them, by name and by their first bytes. Nothing is written under
the user's file name: uploads are held in memory; derived artifacts get content-addressed names.
Every problem becomes one sentence that says what is wrong and what to do; anything quoted from the
user's files in it is cut short (``clipped``), and nothing the model computed is ever quoted.

Sizes are known before anything expands: an NPZ's arrays from its zip directory and ``.npy`` headers,
a CSV's rows counted the way its parser splits them, an input's elements with exact integer
arithmetic; data that would take more than ``ECOCOMPRESS_MAX_EXPANSION`` times its file size in
memory is refused before it is held.
"""

from __future__ import annotations

from ecocompress.models.uploads.data import DEFAULT_LABEL_COLUMN, fit_to_model, read_labeled
from ecocompress.models.uploads.files import UploadError, max_upload_bytes
from ecocompress.models.uploads.kind import UploadedModel
from ecocompress.models.uploads.loading import load_upload, parse_upload
from ecocompress.models.uploads.onnx_file import OnnxClassifier, all_tensors, read_onnx

__all__ = ["DEFAULT_LABEL_COLUMN", "OnnxClassifier", "UploadError", "UploadedModel", "all_tensors", "fit_to_model", "load_upload", "max_upload_bytes", "parse_upload", "read_labeled", "read_onnx"]
