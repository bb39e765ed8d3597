"""An uploaded ONNX classifier, parsed as a protobuf and checked: one float input, class scores out, every tensor inside the file."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ecocompress.core.units import clipped, clipped_list
from ecocompress.models.uploads.files import UploadError, check_size_and_kind, display_name

MAX_INPUT_RANK = 8  # dimensions of one example (images are 3, video 4)
MAX_INPUT_ELEMENTS = 2**26  # numbers in one example (a 4096 x 4096 RGBA image is 2**26)
MAX_CLASSES = 1_000_000


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

    check_size_and_kind(data, filename, "model file")
    name = display_name(filename)
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
