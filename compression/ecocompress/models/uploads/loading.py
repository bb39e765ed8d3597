"""From uploaded bytes to a held model: parsed, converted and run once on real data, each in a limited child process."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Callable

import numpy as np

from ecocompress.core.units import slug
from ecocompress.models.uploads.data import fit_to_model, read_labeled
from ecocompress.models.uploads.files import UploadError, check_expansion, display_name
from ecocompress.models.uploads.kind import HELD_OUT_SHARE, SMALL_DATA, UploadedModel
from ecocompress.models.uploads.onnx_file import OnnxClassifier, read_onnx


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
    from ecocompress.sandbox.limits import Limits, call_with_limits, check_memory

    check_memory("Adding an upload")  # a server above its memory ceiling refuses uploads as it refuses jobs
    # parsed and checked in a limited child: the server never expands a file or imports onnx for an upload
    spec = call_with_limits(parse_upload, model_bytes, model_filename, data_bytes, data_filename, label_column,
                            train_bytes, train_filename, limits=Limits.for_checks(),
                            what=f"Checking {display_name(model_filename)!r}", on_wait=on_wait)
    spec = replace(spec, conversion=_check_conversion(spec, display_name(model_filename), on_wait))
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
    eval_name = display_name(data_filename)
    x, y = fit_to_model(*read_labeled(data_bytes, data_filename, label_column=label_column), info, eval_name)
    _check_runs(model_bytes, info, x[:2], display_name(model_filename))
    if train_bytes is not None:
        train_name = display_name(train_filename or "train.csv")
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
    check_expansion(sum(a.nbytes for a in arrays), len(data_bytes) + len(train_bytes or b""), eval_name)
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
    stem = slug(re.sub(r"\.onnx$", "", display_name(model_filename), flags=re.I)) or "model"
    return UploadedModel(
        name=f"{stem[:40]}-{digest}",
        title=display_name(model_filename),
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
    from ecocompress.sandbox.limits import LimitExceeded, Limits, call_with_limits

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

    Runs in a child process under ``sandbox.limits`` (see ``_check_runs``): nothing the model computed,
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
    from ecocompress.sandbox.limits import Limits, call_with_limits

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
