"""Operation and data counts read from an ONNX file: what the modelled-energy view multiplies.

Counting on the ONNX graph (rather than on a torch model) means the figures describe the very
artifact we hand out, whatever format it runs in (fp32, fp16, QDQ int8, dynamic int8), and work
for any ONNX classifier, not only ours. Per weight layer: multiply-accumulates (all, and those
with a non-zero weight), weights (all, non-zero), the element type the weights are stored in, and
the activation elements it reads and writes, for one inference (symbolic batch dimensions = 1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecocompress.core.errors import MeasurementError

# op type -> index of its weight input
WEIGHT_INPUT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "Gemm": 1, "MatMul": 1, "MatMulInteger": 1, "QLinearMatMul": 3}
PASS_THROUGH = {"Cast", "Transpose", "Identity", "Reshape", "Squeeze", "Unsqueeze"}


@dataclass(frozen=True)
class LayerCount:
    name: str
    op_type: str
    weight_dtype: str  # element type the weights are stored in: float32, float16, int8, uint8
    macs: int
    nonzero_macs: int
    weights: int
    nonzero_weights: int
    input_elements: int
    output_elements: int


@dataclass(frozen=True)
class OpCounts:
    layers: tuple[LayerCount, ...]

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def nonzero_macs(self) -> int:
        return sum(layer.nonzero_macs for layer in self.layers)

    @property
    def weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def nonzero_weights(self) -> int:
        return sum(layer.nonzero_weights for layer in self.layers)

    @property
    def activation_elements(self) -> int:
        return sum(layer.input_elements + layer.output_elements for layer in self.layers)


def _elements(shape_proto) -> int | None:
    """Elements per inference of a tensor shape; symbolic dimensions (the batch) count as 1."""
    if shape_proto is None:
        return None
    dims = shape_proto.dim
    if not dims and not shape_proto.ListFields():
        return None
    total = 1
    for dim in dims:
        if dim.HasField("dim_value"):
            total *= dim.dim_value
    return total


def _nonzero(values: np.ndarray, zero_point: np.ndarray | None, axis: int) -> int:
    """Non-zero weights; for quantized tensors, codes that differ from their zero point."""
    if zero_point is None or not np.any(zero_point):
        return int(np.count_nonzero(values))
    zp = zero_point.astype(values.dtype)
    if zp.size > 1:
        shape = [1] * values.ndim
        shape[axis % values.ndim] = zp.size
        zp = zp.reshape(shape)
    return int(np.count_nonzero(values != zp))


def count_operations(path: Path | str) -> OpCounts:
    """Per-layer counts of the ONNX model at ``path`` (raises a plain sentence when it cannot)."""
    path = Path(path)
    stat = path.stat()
    return _count(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _probed_elements(model, names: list[str]) -> dict[str, int]:
    """Elements per example of tensors shape inference left unknown (operators without shape inference, such as
    ai.onnx.ml's Scaler in front of a scikit-learn model), read from one onnxruntime run on a zero example; {} when
    the model does not run so (its input sizes are not all fixed)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto.FromString(model.SerializeToString())
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names if name not in known)
    initializers = {t.name for t in probe.graph.initializer}
    feeds = {}
    for graph_input in probe.graph.input:
        if graph_input.name in initializers:
            continue
        tensor = graph_input.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor.shape.dim]
        if tensor.elem_type != onnx.TensorProto.FLOAT or any(i > 0 and not d.HasField("dim_value")
                                                              for i, d in enumerate(tensor.shape.dim)):
            return {}
        feeds[graph_input.name] = np.zeros(dims, dtype=np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        values = session.run(names, feeds)
    except Exception:
        return {}
    return {name: int(np.prod(value.shape)) for name, value in zip(names, values)}


@functools.lru_cache(maxsize=256)
def _count(path: str, _mtime_ns: int, _size: int) -> OpCounts:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(path))
    except Exception as exc:
        raise MeasurementError(f"Cannot read the operations of {Path(path).name} ({type(exc).__name__}).") from exc
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    shapes = {
        vi.name: vi.type.tensor_type.shape
        for vi in [*graph.input, *graph.value_info, *graph.output]
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")
    }

    def array(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def weight_of(name: str, depth: int = 0) -> tuple[np.ndarray, np.ndarray | None, int] | None:
        """The stored weight behind ``name`` (through DequantizeLinear and reshapes), its zero point, axis."""
        if name in inits:
            return array(name), None, 0
        node = producers.get(name)
        if node is None or depth > 4:
            return None
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            zero_point = array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            return array(node.input[0]), zero_point, axis
        if node.op_type in PASS_THROUGH:
            return weight_of(node.input[0], depth + 1)
        return None

    weighted = [node for node in graph.node if node.op_type in WEIGHT_INPUT]
    unknown = {name for node in weighted for name in (node.input[0], node.output[0]) if _elements(shapes.get(name)) is None}
    probed = _probed_elements(model, sorted(unknown)) if unknown else {}
    layers = []
    for index, node in enumerate(graph.node):
        if node.op_type not in WEIGHT_INPUT:
            continue
        found = weight_of(node.input[WEIGHT_INPUT[node.op_type]])
        if found is None:  # e.g. a MatMul of two activations (attention): no weight to count
            continue
        weights, zero_point, axis = found
        if node.op_type in ("ConvInteger", "MatMulInteger") and len(node.input) > 3 and node.input[3]:
            zero_point, axis = array(node.input[3]), 0 if node.op_type == "ConvInteger" else 1
        elif node.op_type.startswith("QLinear"):
            zero_point, axis = array(node.input[5]), 0 if node.op_type == "QLinearConv" else 1
        out_elements = _elements(shapes.get(node.output[0])) or probed.get(node.output[0])
        in_elements = _elements(shapes.get(node.input[0])) or probed.get(node.input[0])
        if out_elements is None or in_elements is None:  # the layer is told by position: node names are the file's
            raise MeasurementError(
                f"Cannot count the operations of {Path(path).name}: the shape of its {node.op_type} layer number "
                f"{index + 1} is unknown (give the model fixed input dimensions)."
            )
        if "Conv" in node.op_type:
            reduction = int(np.prod(weights.shape[1:]))  # (C_in / groups) x kernel
        elif node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
            reduction = weights.shape[1]
        else:
            reduction = weights.shape[-2] if weights.ndim >= 2 else weights.shape[0]
        macs = out_elements * reduction
        nonzero = _nonzero(weights, zero_point, axis)
        layers.append(
            LayerCount(
                name=node.name or f"{node.op_type}_{index}",
                op_type=node.op_type,
                weight_dtype=str(weights.dtype),
                macs=int(macs),
                nonzero_macs=int(round(macs * nonzero / max(1, weights.size))),
                weights=int(weights.size),
                nonzero_weights=nonzero,
                input_elements=int(in_elements),
                output_elements=int(out_elements),
            )
        )
    if not layers:
        raise MeasurementError(f"{Path(path).name} has no convolution or matrix-multiply layer with weights to count.")
    return OpCounts(tuple(layers))
