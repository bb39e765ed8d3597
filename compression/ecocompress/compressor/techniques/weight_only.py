"""Weight-only integer matrix multiplies (onnxruntime's MatMulNBits): weights stored as 4- or 8-bit blocks and
widened inside the kernel, activations kept in float. It needs no calibration, so it applies to any graph whose
layers multiply by constant matrices, and it is one more runnable format ``runtime_choice`` times side by side:
on this CPU a MatMul-heavy layer stack ran 0.88x of fp32 with 4-bit weights and 1.01x with 8-bit.

onnxruntime's quantizer (``MatMulNBitsQuantizer``) rewrites MatMul nodes only, so a ``Gemm`` with a constant weight
(what ``torch.onnx.export`` writes for a 2-D ``nn.Linear``) is first spelt as MatMul + Add.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ecocompress.compressor.export import drop_unread_initializers

BLOCK_SIZE = 32  # weights per scale along the reduction axis (onnxruntime's kernels take 16 to 256)


def _gemms_as_matmuls(model: onnx.ModelProto) -> int:
    """``Gemm(x, W, b)`` with a constant W (alpha = beta = 1, x not transposed) as ``MatMul(x, W') + b``."""
    initializers = {t.name: t for t in model.graph.initializer}
    rewritten = 0
    for index, node in enumerate(list(model.graph.node)):
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in initializers or attributes.get("transA", 0)
                or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0):
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]])
        if attributes.get("transB", 0):
            weight = weight.T
        name = f"{node.input[1]}_for_matmul_{index}"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul_{index}" if has_bias else node.output[0]
        replacement = [helper.make_node("MatMul", [node.input[0], name], [product])]
        if has_bias:
            replacement.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]]))
        position = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, new in enumerate(replacement):
            model.graph.node.insert(position + offset, new)
        rewritten += 1
    drop_unread_initializers(model)
    return rewritten


def has_constant_matmuls(graph: onnx.GraphProto) -> bool:
    """Whether the graph multiplies by a constant matrix anywhere (MatMul or Gemm), i.e. the format applies."""
    constant = {t.name for t in graph.initializer if len(t.dims) == 2}
    return any(node.op_type in ("MatMul", "Gemm") and node.input[1] in constant for node in graph.node)


def weight_only(fp32_path: Path, out_path: Path, bits: int) -> Path:
    """The fp32 graph with its constant matrix multiplies as ``bits``-bit weight-only MatMulNBits (4 or 8)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(fp32_path))
    _gemms_as_matmuls(model)
    quantizer = MatMulNBitsQuantizer(model, bits=bits, block_size=BLOCK_SIZE, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(str(out_path), use_external_data_format=False)
    if not any(node.op_type == "MatMulNBits" for node in onnx.load(str(out_path)).graph.node):
        raise ValueError("no matrix multiply was converted")  # a shape the kernel does not take: not a candidate
    return out_path
