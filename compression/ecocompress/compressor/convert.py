"""An uploaded ONNX classifier as a trainable torch module, so an upload gets the samples' whole pipeline.

onnx2pytorch (pinned in pyproject; why this converter: docs/design.md, "Uploads to PyTorch") turns each ONNX
node into a torch operation, with Conv, Gemm and BatchNormalization as real ``nn`` layers. Three passes make
its module fit the pipeline:

- ``prepare`` cleans the graph first, keeping onnxruntime's outputs unchanged: tied weights read through
  Identity, the BatchNorm attribute onnx2pytorch refuses, MatMul + Add pairs as one Gemm (a trainable
  Linear), and a constant ``Reshape(x, [-1, K])`` as ``Flatten`` (a constant K would break once channels
  are pruned).
- ``tidy`` fixes the converted module: dots in module names (they break ``get_submodule``), BatchNorm
  called so Torch-Pruning sees it, Linear sizes read from the weight, 2-D biases, and the two extra copies
  of every weight onnx2pytorch keeps.
- ``check`` compares the module with onnxruntime on the user's own examples; only a module within
  ``TOLERANCE`` is used. A graph that does not convert raises ``ConversionError`` naming the operator that
  stopped it, and the upload keeps the post-training path (``compressor.onnx_pipeline``).
"""

from __future__ import annotations

import copy
import functools
import math
import re
import sys
import tempfile
import types
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.export import drop_unread_initializers, export_onnx
from ecocompress.core.errors import InvalidParameterError

CONVERTER = "onnx2pytorch 0.6.0"
#: What an upload that does not convert keeps, ending every reason that says so.
FALLBACK = "so techniques that train use a student"
#: Largest difference allowed between the converted module's class scores and onnxruntime's, relative to the
#: scores' scale (max |score|, at least 1). float32 kernels differ in summation order: about 1e-6 here.
TOLERANCE = 1e-4
#: Examples of the user's data the conversion is checked on (the first ones of the evaluation split).
CHECK_EXAMPLES = 256
#: Operators onnx2pytorch runs with torchvision (detection layers; classifiers rarely have them).
TORCHVISION_OPS = ("NonMaxSuppression", "RoiAlign", "MaxRoiPool", "DeformConv", "ImageDecoder")


class ConversionError(InvalidParameterError):
    """The graph cannot become a trainable module; ``operator`` names the ONNX operator that stopped it."""

    def __init__(self, message: str, operator: str | None = None) -> None:
        super().__init__(message)
        self.operator = operator


@dataclass(frozen=True)
class Conversion:
    """Whether an upload converts, and how closely the converted module reproduces onnxruntime."""

    converts: bool
    reason: str  # one sentence for the pages: what converts, or what stopped it
    operator: str | None = None  # the ONNX operator that stopped the conversion
    max_difference: float | None = None  # largest |torch - onnxruntime| of the class scores, on ``examples``
    scale: float | None = None  # largest |score| onnxruntime gave on them
    examples: int = 0


# --- graph clean-up -----------------------------------------------------------------------------------------


def _constants(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attribute.t)
    return values


def _static_shapes(model) -> dict[str, list[int | None]]:
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return shapes


def _inline_identity_weights(model) -> None:
    """``Identity(initializer)`` (tied weights in torch's legacy export): consumers read the initializer itself."""
    initializers = {t.name for t in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    alias = {}
    for node in list(model.graph.node):
        if node.op_type == "Identity" and node.input[0] in initializers and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
            model.graph.node.remove(node)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]


def _drop_default_training_mode(model) -> None:
    """BatchNormalization's ``training_mode=0`` is the default, and onnx2pytorch refuses the attribute."""
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            for attribute in list(node.attribute):
                if attribute.name == "training_mode" and attribute.i == 0:
                    node.attribute.remove(attribute)


def _matmul_add_as_gemm(model, constants: dict[str, np.ndarray], shapes: dict[str, list[int | None]]) -> None:
    """``MatMul(x, W) [+ b]`` with a 2-D x and constant W becomes a Gemm, which converts to a trainable Linear
    (a MatMul's constant operand would stay a frozen buffer). skl2onnx and ONNX-exported MLPs write this."""
    from onnx import helper, numpy_helper

    initializers = {t.name for t in model.graph.initializer}
    users: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for node in list(model.graph.node):
        if (node.op_type != "MatMul" or node.input[1] not in initializers or constants[node.input[1]].ndim != 2
                or len(shapes.get(node.input[0]) or []) != 2):
            continue
        after = users.get(node.output[0], [])
        add = after[0] if len(after) == 1 and after[0].op_type == "Add" else None
        others = [name for name in add.input if name != node.output[0]] if add is not None else []
        bias = others[0] if (len(others) == 1 and others[0] in initializers
                             and constants[others[0]].size == constants[node.input[1]].shape[1]) else None
        if bias is not None:
            flat = numpy_helper.from_array(constants[bias].reshape(-1), bias + "_1d")
            model.graph.initializer.append(flat)
            gemm = helper.make_node("Gemm", [node.input[0], node.input[1], flat.name], list(add.output))
            at = list(model.graph.node).index(add)
            model.graph.node.remove(add)
        else:
            gemm = helper.make_node("Gemm", [node.input[0], node.input[1]], list(node.output))
            at = list(model.graph.node).index(node) + 1
        model.graph.node.insert(at, gemm)
        model.graph.node.remove(node)


def _reshapes_as_flatten(model, constants: dict[str, np.ndarray], shapes: dict[str, list[int | None]]) -> None:
    """A constant ``Reshape(x, [-1, K])`` of a whole example becomes ``Flatten``: the constant K would be wrong
    once pruning removes channels before it. ``allowzero=1`` (torch's exporter writes it everywhere) only
    matters for a shape holding 0, so it is cleared where none is."""
    from onnx import helper

    for i, node in enumerate(list(model.graph.node)):
        if node.op_type != "Reshape" or node.input[1] not in constants:
            continue
        target = constants[node.input[1]].astype(np.int64).tolist()
        for attribute in node.attribute:
            if attribute.name == "allowzero" and attribute.i == 1 and 0 not in target:
                attribute.i = 0
        source = shapes.get(node.input[0])
        if len(target) == 2 and source and len(source) >= 3 and all(d is not None for d in source[1:]):
            features = math.prod(source[1:])
            if target[1] in (features, -1) and target[0] in (-1, 0) and target != [-1, -1]:
                flatten = helper.make_node("Flatten", [node.input[0]], list(node.output), axis=1)
                model.graph.node.remove(node)
                model.graph.node.insert(i, flatten)


def prepare(model):
    """A cleaned copy of the graph; onnxruntime gives the same outputs for it (``check`` compares the original)."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    _inline_identity_weights(model)
    _drop_default_training_mode(model)
    constants, shapes = _constants(model), _static_shapes(model)
    _matmul_add_as_gemm(model, constants, shapes)
    _reshapes_as_flatten(model, constants, shapes)
    drop_unread_initializers(model)
    return model


# --- conversion -----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _torchvision_usable() -> bool:
    """Whether torchvision imports beside this torch (a CUDA build of it cannot load beside CPU torch)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # ImportError, or the RuntimeError of a build whose compiled operators do not load
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def _import_converter():
    """onnx2pytorch's ``ConvertModel``. onnx2pytorch imports torchvision for its detection operators only;
    where torchvision cannot load, stand-ins are put in its place while onnx2pytorch imports, and graphs
    with those operators are refused by name (``_refuse_unsupported``)."""
    if "onnx2pytorch" not in sys.modules and not _torchvision_usable():
        stand_ins = {name: types.ModuleType(name) for name in ("torchvision", "torchvision.ops", "torchvision.io")}

        def unavailable(*_args, **_kwargs):
            raise ConversionError("This operator needs torchvision, which cannot load here.")

        stand_ins["torchvision"].ops = stand_ins["torchvision.ops"]
        stand_ins["torchvision"].io = stand_ins["torchvision.io"]
        for name in ("nms", "batched_nms", "box_convert", "roi_align", "roi_pool", "deform_conv2d"):
            setattr(stand_ins["torchvision.ops"], name, unavailable)
        stand_ins["torchvision.io"].decode_image = unavailable
        stand_ins["torchvision.io"].ImageReadMode = types.SimpleNamespace()
        sys.modules.update(stand_ins)
        try:
            import onnx2pytorch  # noqa: F401
        finally:
            for name in stand_ins:
                sys.modules.pop(name, None)
    from onnx2pytorch import ConvertModel

    return ConvertModel


def _refuse_unsupported(model) -> None:
    """Operators this machine's converter cannot run, refused before converting."""
    if _torchvision_usable():
        return
    for node in model.graph.node:
        if node.op_type in TORCHVISION_OPS:
            raise ConversionError(f"the operator {node.op_type} needs torchvision, which is not usable here",
                                  node.op_type)


def _failing_operator(model, opset: int) -> str | None:
    """The first node onnx2pytorch cannot convert (its conversion runs node by node, in graph order)."""
    from onnx2pytorch.convert.operations import convert_operations

    done = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for done, _ in enumerate(convert_operations(model.graph, opset), start=1):
                pass
    except Exception:
        return model.graph.node[done].op_type if done < len(model.graph.node) else None
    return None


def _operator_name(op_type: str | None) -> str | None:
    """An operator's type as told to the user: a name like ONNX's own, else None (a custom domain's type is
    free text from the file, which messages never quote)."""
    return op_type if op_type and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", op_type) else None


def convert(onnx_bytes: bytes) -> nn.Module:
    """The ONNX classifier as a trainable torch module in eval mode (``ConversionError`` names what stopped it)."""
    import onnx

    ConvertModel = _import_converter()
    try:
        model = prepare(onnx.load_from_string(onnx_bytes))
    except Exception:  # shape inference or the checker's text quotes the model: only the fact is told
        raise ConversionError("the graph could not be prepared for conversion") from None
    _refuse_unsupported(model)
    with warnings.catch_warnings(record=True) as guesses:  # "no explicit conversion for X, guessing torch.x"
        warnings.simplefilter("always")
        try:
            module = ConvertModel(model)
        except Exception:  # onnx2pytorch's text quotes the model's node names: only the operator is told
            opset = {o.domain: o.version for o in model.opset_import}.get("", 0)
            operator = _operator_name(_failing_operator(model, opset))
            raise ConversionError(
                f"the operator {operator} has no conversion to PyTorch" if operator
                else "the graph has no conversion to PyTorch", operator) from None
    guessed = [str(w.message).split("op_type=")[1].split(",")[0] for w in guesses if "guessing torch" in str(w.message)]
    if guessed:  # onnx2pytorch ran a torch function of the same name, ignoring the operator's attributes
        operator = _operator_name(guessed[0])
        raise ConversionError(f"the operator {operator} has no exact conversion to PyTorch" if operator
                              else "an operator in the graph has no exact conversion to PyTorch", operator)
    tidy(module)
    return ConvertedModel(module).eval()


_CONVERTED: OrderedDict[str, nn.Module] = OrderedDict()


def converted(onnx_bytes: bytes, key: str) -> nn.Module:
    """A fresh copy of the file's converted module; the conversion is done once per process for each ``key``
    (the upload's content hash), and the two most recent are kept."""
    if key not in _CONVERTED:
        _CONVERTED[key] = convert(onnx_bytes)
        while len(_CONVERTED) > 2:
            _CONVERTED.popitem(last=False)
    _CONVERTED.move_to_end(key)
    return copy.deepcopy(_CONVERTED[key])


class ConvertedModel(nn.Module):
    """The converted graph with one input and the class scores out, as ``torch.export`` wants a ``forward``
    (onnx2pytorch's takes ``*inputs`` and may return a list)."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.converted = graph  # not "graph": torch.fx modules use that name for their own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.converted(x)
        return out[0] if isinstance(out, (list, tuple)) else out


@functools.lru_cache(maxsize=1)
def _called_batchnorm() -> type:
    """onnx2pytorch's BatchNorm wrapper calls its layer's ``forward`` directly, so module hooks never fire and
    Torch-Pruning prunes a convolution but not the BatchNorm after it; this subclass calls it as a module."""
    from onnx2pytorch.operations import BatchNormWrapper

    class CalledBatchNorm(BatchNormWrapper):
        def forward(self, X, *_constants):  # onnx2pytorch passes activations only to its standard layers
            return self.bnu(X)

    return CalledBatchNorm


class StaticReduceMean(nn.Module):
    """ReduceMean with its axes fixed at conversion: onnx2pytorch reads constant axes from a tensor on every call,
    which ``torch.export`` takes for a data-dependent size and refuses (global average pooling exports this way)."""

    def __init__(self, dims: tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.dims, self.keepdim = dims, keepdim

    def forward(self, data: torch.Tensor, *_axes) -> torch.Tensor:  # the constant it was built from, ignored
        return torch.mean(data, dim=self.dims, keepdim=self.keepdim)


def _static_reduce_means(module: nn.Module) -> None:
    from onnx import numpy_helper

    initializers = {t.name: t for t in module.onnx_model.graph.initializer}
    for node in module.onnx_model.graph.node:
        if node.op_type != "ReduceMean":
            continue
        name = module.mapping[node.output[0]]
        op = getattr(module, name)
        axes = op.dim
        if len(node.input) > 1 and node.input[1]:
            axes = (numpy_helper.to_array(initializers[node.input[1]]).tolist() if node.input[1] in initializers
                    else None)
        if axes is None or axes == []:
            continue  # axes computed at run time, or all of them: onnx2pytorch's own operation stays
        setattr(module, name, StaticReduceMean(tuple(int(a) for a in np.atleast_1d(axes)), op.keepdim))


def tidy(module: nn.Module) -> None:
    """Make the converted module something Torch-Pruning, QAT, ``load_state_dict`` and re-export accept."""
    from onnx2pytorch.constants import COMPOSITE_LAYERS, STANDARD_LAYERS
    from onnx2pytorch.convert.operations import get_buffer_name
    from onnx2pytorch.operations import BatchNormWrapper

    # Operations are named after the file's output names ("/features/features.0/Conv_output_0"): a dot breaks
    # get_submodule and load_state_dict, and the pages list layers by name. Each gets its operator and position.
    names = {}
    for position, node in enumerate(module.onnx_model.graph.node):
        old = module.mapping[node.output[0]]
        names[old] = f"{re.sub(r'[^0-9A-Za-z]', '', node.op_type).lower()[:24]}{position}"
    module._modules = OrderedDict((names.get(name, name), child) for name, child in module._modules.items())
    for old in [n for n in list(vars(module)) if n in names and n not in module._modules]:
        module.__dict__[names[old]] = module.__dict__.pop(old)  # operations that are not modules
    module.mapping = {key: names[name] for key, name in module.mapping.items()}
    for child in module.modules():
        if type(child) is BatchNormWrapper and not child.has_lazy:
            child.__class__ = _called_batchnorm()
    _static_reduce_means(module)
    # Every initializer is also a buffer, and the ModelProto keeps a third copy: layers own their weights as
    # parameters and never read those, so only the buffers other operations read stay.
    read = set()
    for node in module.onnx_model.graph.node:
        op = getattr(module, module.mapping[node.output[0]])
        layer = isinstance(op, STANDARD_LAYERS) or (
            isinstance(op, COMPOSITE_LAYERS) and any(isinstance(m, STANDARD_LAYERS) for m in op.modules()))
        if not layer:
            read.update(node.input)
    for tensor in module.onnx_model.graph.initializer:
        buffer = get_buffer_name(tensor.name)
        if tensor.name not in read and buffer in module._buffers:
            del module._buffers[buffer]
    del module.onnx_model.graph.initializer[:]
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            # Gemm with transB=0: the weight is transposed but in/out_features are not; Torch-Pruning reads them.
            layer.out_features, layer.in_features = layer.weight.shape
            if layer.bias is not None and layer.bias.dim() > 1:
                layer.bias = nn.Parameter(layer.bias.detach().reshape(-1).clone())


# --- checking -------------------------------------------------------------------------------------------------


def scores(module: nn.Module, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The module's class scores for ``x``, in batches."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(module(torch.from_numpy(np.ascontiguousarray(x[start:start + batch]))).numpy())
    return np.concatenate(out)


def check(onnx_bytes: bytes, input_name: str, x: np.ndarray) -> Conversion:
    """Convert and compare with onnxruntime on the first ``CHECK_EXAMPLES`` of ``x``: a module outside
    ``TOLERANCE`` is not used. Only sizes of differences come back, never a score."""
    import onnxruntime as ort

    x = np.ascontiguousarray(x[:CHECK_EXAMPLES], dtype=np.float32)
    try:
        module = convert(onnx_bytes)
    except ConversionError as exc:
        return Conversion(False, f"It cannot be converted to PyTorch ({exc}), {FALLBACK}.", exc.operator)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    expected = session.run(None, {input_name: x})[0]
    try:
        got = scores(module, x)
    except Exception:  # a converted operation that fails on these inputs: the text may quote the model
        return Conversion(False, f"Its PyTorch conversion does not run on your data, {FALLBACK}.", examples=len(x))
    if got.shape != expected.shape or not np.isfinite(got).all():
        return Conversion(False, f"Its PyTorch conversion gives other outputs than the file, {FALLBACK}.",
                          examples=len(x))
    difference = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    if difference > TOLERANCE * max(1.0, scale):
        return Conversion(False, f"Its PyTorch conversion differs from the file by {difference:.1e} on your first "
                          f"{len(x)} examples (more than {TOLERANCE:g} of the scores' scale), {FALLBACK}.",
                          max_difference=difference, scale=scale, examples=len(x))
    try:  # every compressed version is exported again: a graph torch.export cannot trace is no use
        with tempfile.TemporaryDirectory() as tmp:
            export_onnx(module, tuple(x.shape[1:]), Path(tmp) / "converted.onnx")
    except Exception:
        return Conversion(False, f"Its PyTorch conversion cannot be exported back to ONNX, {FALLBACK}.",
                          max_difference=difference, scale=scale, examples=len(x))
    return Conversion(True, f"Converted to PyTorch ({CONVERTER}); it reproduces the file within {difference:.1e} on "
                      f"your first {len(x)} examples, so every technique fine-tunes it on your training split.",
                      max_difference=difference, scale=scale, examples=len(x))
