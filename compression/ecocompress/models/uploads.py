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

import functools
import hashlib
import io
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.files import too_large
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.settings import settings
from ecocompress.core.units import clipped, clipped_list, slug
from ecocompress.models.base import ModelKind

if TYPE_CHECKING:
    from ecocompress.compressor.artifact import Artifact

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".joblib", ".bin", ".ckpt", ".sav")
DEFAULT_LABEL_COLUMN = "label"
HELD_OUT_SHARE = 0.3  # without a separate training file, this share of the data is kept for evaluation
SMALL_DATA = 1000  # fewer training examples than this: a student trained on them is not to be trusted
# Optimiser steps (batch 64) of an upload's recipes, as epochs over its training split (1 to 200). A fine-tune stops
# earlier once held-out accuracy is back (``with_recovery_rule``): 300 steps left a 50% structured ResNet-18 1.6
# points short on MNIST.
FINETUNE_STEPS = 1500
DISTILL_STEPS = 1500
MAX_INPUT_RANK = 8  # dimensions of one example (images are 3, video 4)
MAX_INPUT_ELEMENTS = 2**26  # numbers in one example (a 4096 x 4096 RGBA image is 2**26)
MAX_CLASSES = 1_000_000


class UploadError(InvalidParameterError):
    """An uploaded file that cannot be used, with the reason and the fix in one sentence."""


def max_array_bytes() -> int:
    """Largest total of arrays an NPZ upload may expand to (``ECOCOMPRESS_MAX_ARRAY_MB``), checked on the headers
    before any array is read (a 1 MB zip can declare gigabytes)."""
    return int(settings().max_array_mb * 1e6)


def max_csv_cells() -> int:
    """Largest rows x columns a CSV upload may have (``ECOCOMPRESS_MAX_CSV_CELLS``)."""
    return settings().max_csv_cells


def max_upload_bytes() -> int:
    """The upload size limit (``ECOCOMPRESS_MAX_UPLOAD_MB``)."""
    return int(settings().max_upload_mb * 1e6)


def _display_name(filename: str) -> str:
    """The file's base name for messages (a name is only ever shown, never used as a path)."""
    return re.split(r"[\\/]", str(filename))[-1][:80] or "upload"


def _check_expansion(in_memory: int, on_the_wire: int, name: str) -> None:
    """Refuse data that would take more than ``ECOCOMPRESS_MAX_EXPANSION`` times its file size once read."""
    ratio = settings().max_expansion
    if in_memory > ratio * max(1, on_the_wire):
        raise UploadError(f"{name!r} would take {in_memory / 1e6:,.0f} MB in memory from {on_the_wire / 1e6:,.2f} MB "
                          f"on the wire, more than {ratio:g} times its size (ECOCOMPRESS_MAX_EXPANSION); upload the "
                          "data uncompressed or as a smaller sample.")


def _check_size_and_kind(data: bytes, filename: str, what: str) -> None:
    name = _display_name(filename)
    if len(data) > max_upload_bytes():
        raise UploadError(too_large(what, name, len(data), max_upload_bytes()))
    if not data:
        raise UploadError(f"The {what} {name!r} is empty; choose the file again.")
    looks_pickled = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    torch_zip = data[:4] == b"PK\x03\x04" and b"data.pkl" in data[:4096]
    if name.lower().endswith(PICKLE_SUFFIXES) or looks_pickled or torch_zip:
        raise UploadError(
            f"{name!r} is a pickle-based file (PyTorch or scikit-learn), which can run code when loaded, so "
            "ecocompress never opens it; export the model to ONNX (torch.onnx.export or skl2onnx) and upload the .onnx file."
        )


@dataclass(frozen=True)
class OnnxClassifier:
    """What we need to know about an uploaded ONNX classifier."""

    input_name: str
    input_shape: tuple[int, ...]  # per example, without the batch dimension
    output_index: int  # which output holds the class scores
    classes: int


def read_onnx(data: bytes, filename: str = "model.onnx") -> OnnxClassifier:
    """Parse and check an uploaded ONNX classifier (one float input, class scores out)."""
    import onnx

    _check_size_and_kind(data, filename, "model file")
    name = _display_name(filename)
    model = None
    try:
        model = onnx.load_from_string(data)
        if any(_is_external(tensor) for tensor in all_tensors(model)):
            raise UploadError(
                f"{name!r} keeps its weights in a separate file; save it with the weights inside "
                "(torch.onnx.export(..., external_data=False) or onnx.save(model, path, save_as_external_data=False))."
            )
        onnx.checker.check_model(model)
    except UploadError:
        raise
    except Exception as exc:  # the checker's text names the model's nodes: only its kind is told
        raise UploadError(
            f"{name!r} is not a readable ONNX model ({type(exc).__name__}); the file may be truncated, not ONNX, "
            "or break ONNX's rules: export it again with torch.onnx.export or skl2onnx."
        ) from None
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        listed = clipped_list((i.name for i in inputs), most=4, each=30) or "none"
        raise UploadError(
            f"{name!r} has {len(inputs)} inputs ({listed}); ecocompress handles classifiers with one input tensor."
        )
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else "not a tensor"
        raise UploadError(f"The input of {name!r} is {dtype}; ecocompress expects float32 features.")
    dims = list(tensor.shape.dim)
    if len(dims) > MAX_INPUT_RANK + 1:
        raise UploadError(f"The input of {name!r} has {len(dims)} dimensions; ecocompress takes at most "
                          f"{MAX_INPUT_RANK + 1} (the batch and {MAX_INPUT_RANK} for one example).")
    if len(dims) < 2 or any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims[1:]):
        raise UploadError(
            f"The input of {name!r} needs a batch dimension and fixed sizes for the others (it has "
            f"{_shape_text(dims)}); export it with fixed feature or image sizes."
        )
    elements = math.prod(int(d.dim_value) for d in dims[1:])  # Python integers: exact, never wraps around
    if elements > MAX_INPUT_ELEMENTS:
        raise UploadError(f"One example of {name!r} has {elements:,} numbers ({_shape_text(dims)}); ecocompress takes "
                          f"at most {MAX_INPUT_ELEMENTS:,} per example.")
    scores = _class_output(model)
    if scores is None:
        shapes = clipped_list((f"{clipped(o.name, 30)} {_shape_text(o.type.tensor_type.shape.dim)}"
                               for o in model.graph.output), most=4, each=400, separator="; ")  # parts clipped already
        raise UploadError(
            f"{name!r} has no output of class scores shaped [batch, classes] (its outputs: {shapes}); "
            "upload a classifier that returns logits or probabilities."
        )
    if scores[1] > MAX_CLASSES:
        raise UploadError(f"{name!r} returns {scores[1]:,} class scores; ecocompress takes at most {MAX_CLASSES:,} classes.")
    return OnnxClassifier(inputs[0].name, tuple(d.dim_value for d in dims[1:]), scores[0], scores[1])


def _is_external(tensor) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0


@functools.lru_cache(maxsize=1)
def _fields_toward_tensors() -> dict[str, tuple[tuple[str, bool], ...]]:
    """For every message type reachable from ``ModelProto``: its fields (name, repeated) whose type can hold a
    ``TensorProto`` somewhere inside. Derived from the protobuf descriptors, so a place the schema allows (a
    function's default attributes, ``training_info``, one a future ONNX adds) is never missed by a hand-made list."""
    import onnx

    descriptors, stack = {}, [onnx.ModelProto.DESCRIPTOR]
    while stack:
        descriptor = stack.pop()
        if descriptor.full_name not in descriptors:
            descriptors[descriptor.full_name] = descriptor
            stack.extend(f.message_type for f in descriptor.fields if f.message_type is not None)
    holds = {onnx.TensorProto.DESCRIPTOR.full_name}
    while True:  # a type holds tensors when one of its fields' types does: grow to the fixed point
        more = {name for name, d in descriptors.items() if name not in holds
                and any(f.message_type is not None and f.message_type.full_name in holds for f in d.fields)}
        if not more:
            break
        holds |= more
    return {name: tuple((f.name, _repeated(f)) for f in d.fields
                        if f.message_type is not None and f.message_type.full_name in holds)
            for name, d in descriptors.items()}


def _repeated(field) -> bool:
    """Whether a protobuf field is repeated (``is_repeated`` in protobuf >= 5.28, ``label`` before)."""
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def all_tensors(model):
    """Every ``TensorProto`` in the model wherever the schema lets one sit: initializers, sparse tensors, node
    attributes, subgraphs of If/Loop/Scan, local functions and their default attributes, training info..."""
    import onnx

    fields, tensor = _fields_toward_tensors(), onnx.TensorProto.DESCRIPTOR.full_name
    stack = [model]
    while stack:  # iterative: nesting depth is bounded by protobuf's parser, not by Python's stack
        message = stack.pop()
        kind = message.DESCRIPTOR.full_name
        if kind == tensor:
            yield message
        for name, repeated in fields.get(kind, ()):
            if repeated:
                stack.extend(getattr(message, name))
            elif message.HasField(name):
                stack.append(getattr(message, name))


def _shape_text(dims) -> str:
    names = (str(d.dim_value) if d.HasField("dim_value") else clipped(d.dim_param or "?", 12) for d in dims)
    return "[" + clipped_list(names, most=10, each=20) + "]"  # 20: an int64 size is never cut


def _class_output(model) -> tuple[int, int] | None:
    """(index, classes) of the first float output shaped [batch, classes >= 2]."""
    import onnx

    for index, output in enumerate(model.graph.output):
        tensor = output.type.tensor_type
        dims = list(tensor.shape.dim)
        if tensor.elem_type == onnx.TensorProto.FLOAT and len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value >= 2:
            return index, dims[1].dim_value
    return None


def read_labeled(data: bytes, filename: str, *, label_column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32, one row per example) and integer labels from a CSV or NPZ upload."""
    _check_size_and_kind(data, filename, "data file")
    name = _display_name(filename)
    if name.lower().endswith(".npz"):
        return _read_npz(data, name)
    if name.lower().endswith((".csv", ".txt")):
        return _read_csv(data, name, label_column or DEFAULT_LABEL_COLUMN)
    raise UploadError(f"{name!r} is neither CSV nor NPZ; give labeled data as a .csv (feature columns and a label column) or an .npz with arrays x and y.")


NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npz_members(data: bytes, name: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array, read from the zip directory and the .npy headers only: nothing is
    expanded before the declared sizes are known to fit (``max_array_bytes``)."""
    import zipfile

    if data[:4] != b"PK\x03\x04":
        raise UploadError(f"{name!r} is not an NPZ file (it does not start like one); save it with numpy.savez.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if sum(i.file_size for i in infos) > max_array_bytes() + 1_000_000 * len(infos):
            raise UploadError(f"{name!r} expands to {sum(i.file_size for i in infos) / 1e6:,.0f} MB; the limit is "
                              f"{max_array_bytes() / 1e6:,.0f} MB (ECOCOMPRESS_MAX_ARRAY_MB).")
        members: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if key in members:  # 'x' and 'x.npy', or one name twice: the size checked could be another's than the one read
                raise UploadError(f"{name!r} holds two arrays named {clipped(key, 30)!r}; save it again with numpy.savez.")
            with archive.open(info) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = NPY_HEADERS.get(version)
                if read_header is None:
                    raise UploadError(f"{name!r} uses .npy format version {version}; save it with numpy.savez.")
                shape, _, dtype = read_header(handle)  # the header only: no data is read
            members[key] = (tuple(int(d) for d in shape), np.dtype(dtype))
    except UploadError:
        raise
    except Exception as exc:
        raise UploadError(f"{name!r} is not a readable NPZ file ({type(exc).__name__}); save it with numpy.savez.") from None
    declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in members.values())  # exact integers
    if declared > max_array_bytes():
        raise UploadError(f"The arrays in {name!r} would take {declared / 1e6:,.0f} MB; the limit is "
                          f"{max_array_bytes() / 1e6:,.0f} MB (ECOCOMPRESS_MAX_ARRAY_MB).")
    if any(dtype.hasobject for _, dtype in members.values()):
        raise UploadError(f"{name!r} holds Python objects (pickled arrays), which ecocompress never loads; save plain numeric arrays.")
    return members


def _read_npz(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    members = _npz_members(data, name)
    missing = [k for k in ("x", "y") if k not in members]
    if missing:
        listed = clipped_list(sorted(members), most=6, each=20)
        raise UploadError(f"{name!r} has arrays [{listed}]; it needs arrays named 'x' (features) and 'y' (labels).")
    for key, what in (("x", "one row of features per example"), ("y", "one class index per example")):
        if len(members[key][0]) == 0:
            raise UploadError(f"The array {key!r} in {name!r} is a single number; it must be an array with {what}.")
    if len(members["y"][0]) > 1 and any(d > 1 for d in members["y"][0][1:]):
        raise UploadError(f"The labels 'y' in {name!r} have {len(members['y'][0])} dimensions (one-hot rows?); give one "
                          "class index per example, e.g. y.argmax(axis=1).")
    # once read: float32 features, int64 labels
    _check_expansion(math.prod(members["x"][0]) * 4 + math.prod(members["y"][0]) * 8, len(data), name)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except Exception as exc:
        raise UploadError(f"{name!r} is not a readable NPZ file ({type(exc).__name__}); save it with numpy.savez.") from None
    if x.dtype.kind not in "biuf":
        raise UploadError(f"The array 'x' in {name!r} is {x.dtype}, not numbers; save the features as floats.")
    if len(x) == 0:
        raise UploadError(f"{name!r} has no examples; add labeled examples.")
    if len(x) != len(y):
        raise UploadError(f"{name!r} has {len(x)} examples in 'x' but {len(y)} labels in 'y'; they must match.")
    with np.errstate(over="ignore"):  # values beyond float32 become inf here, and are refused just below
        x = x.astype(np.float32)
    bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))
    if len(bad):
        raise UploadError(f"The features in {name!r} have a missing or infinite value in example {bad[0][0]}; fill or drop it.")
    return x, _labels(y, name, offset=0)


def _csv_shape(data: bytes) -> tuple[int, int]:
    """(rows, columns) counted the way pandas' parser splits them: "\\n", "\\r\\n" and a lone "\\r" each end a row
    (a file of "\\r" endings is not one long row); columns from the first row."""
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    first = re.split(rb"\r\n|\r|\n", data, maxsplit=1)[0]
    return breaks + 1, first.count(b",") + 1


def _read_csv(data: bytes, name: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    rows, columns = _csv_shape(data)
    if rows * columns > max_csv_cells():
        raise UploadError(f"{name!r} has about {rows:,} rows x {columns:,} columns; the limit is {max_csv_cells():,} "
                          "values (ECOCOMPRESS_MAX_CSV_CELLS): upload a sample of the data.")
    try:  # at most the rows counted: a quoted line break can only make fewer
        frame = pd.read_csv(io.BytesIO(data), nrows=rows)
    except pd.errors.EmptyDataError:
        raise UploadError(f"{name!r} has no header and no rows; give a CSV with feature columns and a "
                          f"{clipped(label_column, 30)!r} column.") from None
    except Exception as exc:
        raise UploadError(f"{name!r} is not a readable CSV file ({type(exc).__name__}: {clipped(exc, 120)}).") from None
    if frame.size > max_csv_cells():
        raise UploadError(f"{name!r} has {frame.size:,} values; the limit is {max_csv_cells():,} (ECOCOMPRESS_MAX_CSV_CELLS).")
    if label_column not in frame.columns:
        shown = clipped_list(frame.columns, most=8, each=30)
        raise UploadError(
            f"{name!r} has no {clipped(label_column, 30)!r} column (its columns: {shown}); name the label column "
            "(--label-column NAME, or the label column box)."
        )
    if frame.empty:
        raise UploadError(f"{name!r} has a header but no rows; add labeled examples.")
    features = frame.drop(columns=[label_column])
    if features.shape[1] == 0:
        raise UploadError(f"{name!r} has only the label column; add feature columns.")
    for column in features.columns:
        values = pd.to_numeric(features[column], errors="coerce")
        text = values.isna() & features[column].notna()
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            raise UploadError(
                f"Feature column {clipped(column, 30)!r} in {name!r} holds text (row {row + 2}: "
                f"{clipped(features[column].iloc[row], 20)!r}); "
                "all feature columns must be numbers."
            )
        if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
            row = int(np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))[0])
            raise UploadError(f"Feature column {clipped(column, 30)!r} in {name!r} has a missing value in row {row + 2}; "
                              "fill or drop it.")
        features[column] = values
    x = features.to_numpy(dtype=np.float64)
    too_big = np.argwhere(np.abs(x) > np.finfo(np.float32).max)
    if len(too_big):
        row, col = too_big[0]
        raise UploadError(f"Feature column {clipped(features.columns[col], 30)!r} in {name!r} has a value too large for float32 in "
                          f"row {row + 2}; scale the features.")
    return x.astype(np.float32), _labels(frame[label_column].to_numpy(), name, offset=2)


def _labels(y: np.ndarray, name: str, *, offset: int) -> np.ndarray:
    """Whole-number class indices; ``offset`` turns an index into the file's row number (CSV: header + 1)."""
    y = np.asarray(y).reshape(-1)
    numeric = np.array([_as_number(v) for v in y], dtype=float)
    bad = np.flatnonzero(~np.isfinite(numeric) | (numeric != np.round(numeric)) | (np.abs(numeric) >= 2**31))
    if len(bad):
        where = f"row {bad[0] + offset}" if offset else f"example {bad[0]}"
        raise UploadError(f"Labels in {name!r} must be whole-number class indices; {where} has {clipped(y[bad[0]], 20)!r}.")
    return numeric.astype(np.int64)


def _as_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fit_to_model(x: np.ndarray, y: np.ndarray, info: OnnxClassifier, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reshape examples to the model's input and check labels against its classes."""
    per_example = math.prod(info.input_shape)
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != per_example:
        raise UploadError(
            f"The model expects {per_example:,} features per example (input shape [batch, "
            f"{', '.join(map(str, info.input_shape))}]); {name!r} has {flat.shape[1]:,}."
        )
    outside = np.flatnonzero((y < 0) | (y >= info.classes))
    if len(outside):
        raise UploadError(
            f"Label {y[outside[0]]} in {name!r} is outside the model's classes 0-{info.classes - 1}; "
            "labels must be the class indices the model outputs."
        )
    return flat.reshape(len(x), *info.input_shape).astype(np.float32), y


@dataclass(frozen=True, eq=False)
class UploadedModel(ModelKind):
    """A user's ONNX classifier and data behind the model-kind interface."""

    name: str
    title: str
    onnx_bytes: bytes
    info: OnnxClassifier
    data: Any  # ecocompress.core.data.Dataset
    data_note: str
    task: str = "uploaded ONNX classifier"
    warnings: tuple[str, ...] = field(default=())
    #: Whether the file became a trainable torch module that reproduces it (``compressor.convert``); None: not checked.
    conversion: Any = None  # ecocompress.compressor.convert.Conversion

    @property
    def converts(self) -> bool:
        """Converted and checked: every technique runs through the samples' torch pipeline, fine-tuned on the
        user's training split. Otherwise only what works on the file itself (``compressor.onnx_pipeline``)."""
        return self.conversion is not None and self.conversion.converts

    @property
    def per_layer_allocation(self) -> bool:  # per-layer settings are fine-tuned: they need the torch module
        return self.converts

    @functools.cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256(self.onnx_bytes)
        for array in (self.data.x_train, self.data.y_train, self.data.x_test, self.data.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def dataset(self):
        return self.data

    @property
    def held_bytes(self) -> int:
        arrays = (self.data.x_train, self.data.y_train, self.data.x_test, self.data.y_test)
        return len(self.onnx_bytes) + sum(int(np.asarray(a).nbytes) for a in arrays)

    def summary(self) -> str:
        if self.conversion is None:
            return (f"Uploaded ONNX model; {self.data_note}. Structured pruning and low-rank need training code: use "
                    "them with a student.")
        return f"Uploaded ONNX model; {self.data_note}. {self.conversion.reason}"

    def check_point(self, point: CompressionPoint) -> None:
        """A converted upload does every point; otherwise refuse what needs training (``onnx_pipeline.check_point``)."""
        if self.converts:
            return
        from ecocompress.compressor.onnx_pipeline import check_point

        try:
            check_point(point)
        except InvalidParameterError as exc:
            if self.conversion is None:
                raise
            raise InvalidParameterError(f"{exc} ({self.conversion.reason})") from None

    def build_artifact(
        self, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress: Progress = no_progress
    ) -> Artifact:
        """The baseline is the file itself. A converted upload goes through the samples' torch pipeline; otherwise,
        at full width, the file's own weights are edited, and a student is trained here from its outputs."""
        if point.is_baseline or (point.student_width == 1.0 and not self.converts):
            from ecocompress.compressor.onnx_pipeline import build_onnx_artifact

            artifact = build_onnx_artifact(self.onnx_bytes, self.data, point, out_path, seed=seed, progress=progress)
            if self.converts:  # parameters counted as for its compressed versions: the torch module's, biases included
                from ecocompress.compressor.architectures import count_parameters

                artifact = replace(artifact, params=count_parameters(self.build(1.0)))
            return artifact
        from ecocompress.compressor.pipeline import build_artifact

        return build_artifact(self, point, out_path, seed=seed, progress=progress)

    def load(self):
        """The teacher: the converted module, or one that runs the file in onnxruntime (distillation only)."""
        if self.converts:
            return self.build(1.0).eval()
        from ecocompress.compressor.students import OnnxTeacher

        return OnnxTeacher(self.onnx_bytes, self.info.input_name, self.info.output_index)

    def build(self, width: float = 1.0):
        """A converted upload's torch module (a fresh copy) with ``width`` of every layer's channels, as the
        samples' students are their own architecture narrowed: at half width about a quarter of the work. Started
        from the teacher's strongest channels (``narrow``), so distillation begins near the teacher.
        An upload that does not convert gets a student network for its input shape with about ``width`` x the
        teacher's parameters (``student_for``)."""
        if self.converts:
            from ecocompress.compressor.convert import converted
            from ecocompress.compressor.techniques.pruning import narrow

            module = converted(self.onnx_bytes, self.content_hash)
            return module if width == 1.0 else narrow(module, width, self.info.input_shape)
        from ecocompress.compressor.students import student_for

        return student_for(self.info.input_shape, self.info.classes, self.params * width)

    @functools.cached_property
    def baseline_macs(self) -> int:
        import tempfile

        from ecocompress.measure.opcounts import count_operations

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(self.onnx_bytes)
            return count_operations(path).macs

    @functools.cached_property
    def params(self) -> int:
        import onnx

        model = onnx.load_from_string(self.onnx_bytes)
        return sum(math.prod(t.dims) for t in model.graph.initializer if len(t.dims) >= 1)

    def finetune_config(self, seed: int = 0):
        from ecocompress.core.recipes import TrainConfig

        return TrainConfig(epochs=self._epochs(FINETUNE_STEPS), batch_size=64, lr=5e-4, seed=seed)

    def distill_config(self, seed: int = 0):
        from ecocompress.core.recipes import TrainConfig

        return TrainConfig(epochs=self._epochs(DISTILL_STEPS), batch_size=64, lr=1e-3, seed=seed)

    def _epochs(self, steps: int) -> int:
        per_epoch = max(1, math.ceil(len(self.data.y_train) / 64))
        return max(1, min(200, math.ceil(steps / per_epoch)))


def load_upload(
    model_bytes: bytes,
    model_filename: str,
    data_bytes: bytes,
    data_filename: str,
    *,
    label_column: str | None = None,
    train_bytes: bytes | None = None,
    train_filename: str | None = None,
    register: bool = True,
    session: str = "cli",
    on_wait: Callable[[str], None] | None = None,
) -> UploadedModel:
    """Check an uploaded model and its data together, and make it available by name while the caller holds it.

    Keep the returned object for as long as the model should be reachable by name (``registry.hold_upload``):
    a browser session keeps it in its state, the CLI for the life of the command. The files are parsed and the
    model run in a limited child, one of a bounded pool (``on_wait`` hears once if the pool is full); ``session``'s
    uploads together are held within its share of the server's upload memory.
    """
    from ecocompress.core.limits import Limits, call_with_limits, check_memory

    check_memory("Adding an upload")  # a server above its memory ceiling refuses uploads as it refuses jobs
    # parsed and checked in a limited child: the server never expands a file or imports onnx for an upload
    spec = call_with_limits(parse_upload, model_bytes, model_filename, data_bytes, data_filename, label_column,
                            train_bytes, train_filename, limits=Limits.for_checks(),
                            what=f"Checking {_display_name(model_filename)!r}", on_wait=on_wait)
    spec = replace(spec, conversion=_check_conversion(spec, _display_name(model_filename), on_wait))
    if register:
        from ecocompress.models.registry import hold_upload

        spec = hold_upload(spec, session=session)
    return spec


def parse_upload(
    model_bytes: bytes, model_filename: str, data_bytes: bytes, data_filename: str, label_column: str | None,
    train_bytes: bytes | None, train_filename: str | None,
) -> UploadedModel:
    """Parse and check the files (``load_upload`` runs this under the upload-check limits)."""
    from ecocompress.core.data import Dataset

    info = read_onnx(model_bytes, model_filename)
    model_bytes, info = _scores_only(model_bytes, info)
    eval_name = _display_name(data_filename)
    x, y = fit_to_model(*read_labeled(data_bytes, data_filename, label_column=label_column), info, eval_name)
    _check_runs(model_bytes, info, x[:2], _display_name(model_filename))
    if train_bytes is not None:
        train_name = _display_name(train_filename or "train.csv")
        x_train, y_train = fit_to_model(*read_labeled(train_bytes, train_name, label_column=label_column), info, train_name)
        x_test, y_test = x, y
        note = f"your data: {len(y_train):,} training examples ({train_name}), {len(y_test):,} evaluation examples ({eval_name})"
    else:
        if len(y) < 10:
            raise UploadError(f"{eval_name!r} has {len(y)} examples; give at least 10 (better: thousands) to evaluate a model.")
        order = np.random.default_rng(0).permutation(len(y))
        cut = int(round(len(y) * (1 - HELD_OUT_SHARE)))
        x_train, y_train, x_test, y_test = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
        note = (f"your data ({eval_name}): {len(y_test):,} examples ({HELD_OUT_SHARE:.0%}) held out for every accuracy "
                f"figure, {len(y_train):,} used for calibration and students")
    arrays = (x_train, y_train, x_test, y_test)
    _check_expansion(sum(a.nbytes for a in arrays), len(data_bytes) + len(train_bytes or b""), eval_name)
    warnings = []
    if len(y_train) < SMALL_DATA:
        warnings.append(
            f"Only {len(y_train):,} training examples: calibration works, but a student trained on so few is not to "
            "be trusted; give more data (a separate training file) before relying on student results."
        )
    # named by model *and* data: the same file uploaded with other data is another model, with its own points
    digest = hashlib.sha256(model_bytes)
    for array in (x_train, y_train, x_test, y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest = digest.hexdigest()[:12]
    stem = slug(re.sub(r"\.onnx$", "", _display_name(model_filename), flags=re.I)) or "model"
    return UploadedModel(
        name=f"{stem[:40]}-{digest}",
        title=_display_name(model_filename),
        onnx_bytes=model_bytes,
        info=info,
        data=Dataset(f"upload-{digest}", x_train, y_train, x_test, y_test, note),
        data_note=note,
        warnings=tuple(warnings),
    )


def _check_conversion(spec: UploadedModel, name: str, on_wait: Callable[[str], None] | None):
    """Convert the file to a torch module and compare it with onnxruntime on the user's first evaluation examples,
    in a child of the upload-check pool under its own limits (``Limits.for_conversion``); one that goes over them
    keeps the post-training path, saying so."""
    from ecocompress.compressor.convert import CHECK_EXAMPLES, FALLBACK, Conversion, check
    from ecocompress.core.limits import Limits, LimitExceeded, call_with_limits

    limits = Limits.for_conversion()
    try:
        return call_with_limits(check, spec.onnx_bytes, spec.info.input_name, spec.data.x_test[:CHECK_EXAMPLES],
                                limits=limits, what=f"Converting {name!r} to PyTorch", on_wait=on_wait)
    except LimitExceeded:
        return Conversion(False, f"Converting it to PyTorch went over its limits ({limits.text()}), {FALLBACK}.")


def _scores_only(model_bytes: bytes, info: OnnxClassifier) -> tuple[bytes, OnnxClassifier]:
    """Keep only the class-score output (e.g. drop skl2onnx's label output), so every tool reads output 0."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    if info.output_index == 0 and len(model.graph.output) == 1:
        return model_bytes, info
    scores = model.graph.output[info.output_index]
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    keep = onnx.utils.Extractor(model).extract_model(inputs, [scores.name])
    return keep.SerializeToString(), OnnxClassifier(info.input_name, info.input_shape, 0, info.classes)


def _probe_scores(model_bytes: bytes, input_name: str, output_index: int, x: np.ndarray) -> tuple[int, ...] | str:
    """Run the uploaded model once, on one thread; only the shape of its scores comes back, or "non-finite" (NaN or
    infinite scores), or the error's kind.

    Runs in a child process under ``core.limits`` (see ``_check_runs``): nothing the model computed,
    and none of onnxruntime's text about it, leaves that process.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        out = session.run(None, {input_name: x})[output_index]
    except Exception as exc:  # onnxruntime's text can carry what the model computed: only the kind goes back
        text = str(exc).lower()
        return "memory" if "alloc" in text or "memory" in text else type(exc).__name__
    if not np.all(np.isfinite(out)):
        return "non-finite"
    return tuple(getattr(out, "shape", ()))


def _check_runs(model_bytes: bytes, info: OnnxClassifier, x: np.ndarray, name: str) -> None:
    """The model must run on two examples and return [2, classes] scores, within the upload-check limits."""
    from ecocompress.core.limits import Limits, call_with_limits

    limits = Limits.for_checks()
    found = call_with_limits(_probe_scores, model_bytes, info.input_name, info.output_index, x,
                             limits=limits, what=f"Checking {name!r}")
    if found == "memory":
        raise UploadError(f"{name!r} asked for more than {limits.memory_text()} on two examples and was stopped; a model "
                          "that needs that much is refused.")
    if found == "non-finite":
        raise UploadError(f"{name!r} returned NaN or infinite class scores on your first examples; ecocompress measures "
                          "classifiers whose scores are numbers: check the model and the data's scale.")
    if isinstance(found, str):
        raise UploadError(f"onnxruntime cannot run {name!r} on your data ({found}); check that the model "
                          "runs in onnxruntime on a few of your examples.")
    if found != (len(x), info.classes):
        raise UploadError(f"{name!r} did not return class scores shaped [{len(x)}, {info.classes}] for {len(x)} examples; "
                          "upload a classifier whose score output is [batch, classes].")