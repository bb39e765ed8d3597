"""Labeled data from a CSV or an NPZ, its size known from headers before anything expands, fitted to the model's input."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np

from ecocompress.core.settings import settings
from ecocompress.core.units import clipped, clipped_list
from ecocompress.models.uploads.files import UploadError, check_expansion, check_size_and_kind, display_name
from ecocompress.models.uploads.onnx_file import OnnxClassifier

DEFAULT_LABEL_COLUMN = "label"


def max_array_bytes() -> int:
    """Largest total of arrays an NPZ upload may expand to (``ECOCOMPRESS_MAX_ARRAY_MB``), checked on the headers
    before any array is read (a 1 MB zip can declare gigabytes)."""
    return int(settings().max_array_mb * 1e6)


def max_csv_cells() -> int:
    """Largest rows x columns a CSV upload may have (``ECOCOMPRESS_MAX_CSV_CELLS``)."""
    return settings().max_csv_cells


def read_labeled(data: bytes, filename: str, *, label_column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32, one row per example) and integer labels from a CSV or NPZ upload."""
    check_size_and_kind(data, filename, "data file")
    name = display_name(filename)
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
    check_expansion(math.prod(members["x"][0]) * 4 + math.prod(members["y"][0]) * 8, len(data), name)
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
