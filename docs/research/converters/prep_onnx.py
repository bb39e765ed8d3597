"""Graph-level clean-up applied to an ONNX classifier before converting it (the proposed wrapper's first step).

0. Identity(initializer) -> consumers read the initializer directly (the legacy exporter writes this for
   tied/deduplicated weights; onnx2pytorch's Gemm then finds no weight initializer and fails).
1. Reshape(allowzero=1) whose target shape is a constant with no 0 in it -> allowzero=0.
   Same semantics (allowzero only matters when the shape holds a 0), but onnx2torch 1.5.15 refuses
   allowzero=1 outright, and torch.onnx.export(dynamo=True) writes allowzero=1 on every Reshape.
2. Reshape(x, [-1, K]) / [0, K] / [B, -1] whose input is (batch, d1, ..., dn) with d1*...*dn == K
   -> Flatten(axis=1). A constant [-1, K] bakes the pre-pruning feature count into the graph, so
   structured pruning of the channels that feed it breaks the forward pass; Flatten follows them.

3. BatchNormalization training_mode=0 attribute (written by TrainingMode.PRESERVE exports) dropped:
   it is the default, and onnx2pytorch 0.6.0 refuses the attribute.
4. MatMul(x, W) + Add(., b) with a 2-D x and constant W, b -> Gemm(x, W, b) (skl2onnx writes its MLPs this
   way); onnx2torch keeps a MatMul's constant operand as a frozen buffer, a Gemm becomes an nn.Linear.
downgrade(model, 17): onnx.version_converter to opset 17 (ReduceMean-18 takes axes as an input; onnx2torch
1.5.15 only knows ReduceMean <= 13), then drops the noop_with_empty_axes=0 it leaves behind.

Also writes index entries "<key>+prep" into /tmp/conv_onnx/index.json for every exported model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def constant_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
    return values


def static_shapes(model: onnx.ModelProto) -> dict[str, list]:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return shapes


def inline_identity_initializers(model: onnx.ModelProto) -> int:
    inits = {t.name for t in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    alias = {}
    for node in list(model.graph.node):
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
            model.graph.node.remove(node)
    for node in model.graph.node:
        for j, name in enumerate(node.input):
            if name in alias:
                node.input[j] = alias[name]
    return len(alias)


def strip_bn_training_mode(model: onnx.ModelProto) -> int:
    n = 0
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            for a in list(node.attribute):
                if a.name == "training_mode" and a.i == 0:
                    node.attribute.remove(a)
                    n += 1
    return n


def matmul_add_to_gemm(model: onnx.ModelProto) -> int:
    consts = constant_values(model)
    shapes = static_shapes(model)
    inits = {t.name: t for t in model.graph.initializer}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    n = 0
    for node in list(model.graph.node):
        if node.op_type != "MatMul" or node.input[1] not in inits or consts[node.input[1]].ndim != 2:
            continue
        if len(shapes.get(node.input[0]) or []) != 2:
            continue
        users = consumers.get(node.output[0], [])
        add = users[0] if len(users) == 1 and users[0].op_type == "Add" else None
        bias = None
        if add is not None:
            other = [i for i in add.input if i != node.output[0]]
            if len(other) == 1 and other[0] in inits and consts[other[0]].size == consts[node.input[1]].shape[1]:
                bias = other[0]
        if bias is not None:
            arr = consts[bias].reshape(-1)
            t = numpy_helper.from_array(arr, bias + "_1d")
            model.graph.initializer.append(t)
            gemm = helper.make_node("Gemm", [node.input[0], node.input[1], t.name], list(add.output), name=(node.name or "matmul") + "_gemm")
            pos = list(model.graph.node).index(add)
            model.graph.node.remove(node)
            model.graph.node.remove(add)
            model.graph.node.insert(pos - 1, gemm)
        else:
            gemm = helper.make_node("Gemm", [node.input[0], node.input[1]], list(node.output), name=(node.name or "matmul") + "_gemm")
            pos = list(model.graph.node).index(node)
            model.graph.node.remove(node)
            model.graph.node.insert(pos, gemm)
        n += 1
    return n


def downgrade(model: onnx.ModelProto, opset: int = 17) -> onnx.ModelProto:
    from onnx import version_converter

    out = version_converter.convert_version(model, opset)
    for node in out.graph.node:
        if node.op_type.startswith("Reduce"):
            for a in list(node.attribute):
                if a.name == "noop_with_empty_axes" and a.i == 0:
                    node.attribute.remove(a)
    onnx.checker.check_model(out)
    return out


def prep(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    stats = {"identity_inlined": inline_identity_initializers(model), "bn_training_mode_dropped": strip_bn_training_mode(model)}
    stats["matmul_to_gemm"] = matmul_add_to_gemm(model)
    consts = constant_values(model)
    shapes = static_shapes(model)
    stats.update({"allowzero_cleared": 0, "reshape_to_flatten": 0})
    for i, node in enumerate(list(model.graph.node)):
        if node.op_type != "Reshape" or node.input[1] not in consts:
            continue
        target = consts[node.input[1]].astype(np.int64).tolist()
        for a in node.attribute:
            if a.name == "allowzero" and a.i == 1 and 0 not in target:
                a.i = 0
                stats["allowzero_cleared"] += 1
        src = shapes.get(node.input[0])
        if len(target) == 2 and src and len(src) >= 3 and all(d is not None for d in src[1:]):
            k = math.prod(src[1:])
            if (target[0] in (-1, 0) and target[1] == k) or (target[1] == -1 and target[0] in (0,)):
                flat = helper.make_node("Flatten", [node.input[0]], list(node.output), name=(node.name or f"reshape{i}") + "_flatten", axis=1)
                model.graph.node.remove(node)
                model.graph.node.insert(i, flat)
                stats["reshape_to_flatten"] += 1
    used = {name for n in model.graph.node for name in n.input}
    for t in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(t)
    onnx.checker.check_model(model)
    return model, stats


def main():
    index_path = Path("/tmp/conv_onnx/index.json")
    index = json.loads(index_path.read_text())
    import onnxruntime as ort

    for key, meta in list(index.items()):
        if "error" in meta or "+prep" in key or "path" not in meta or key + "+prep" in index:
            continue
        model, stats = prep(onnx.load(meta["path"]))
        variants = []
        if any(stats.values()):
            variants.append(("+prep", model, stats))
        opset = {o.domain: o.version for o in model.opset_import}.get("", 0)
        if opset > 17:
            try:
                variants.append(("+prep17", downgrade(model), dict(stats, downgraded_from=opset)))
            except Exception as exc:  # noqa: BLE001
                print(key, "downgrade failed:", str(exc).splitlines()[0][:120])
        x = np.random.default_rng(0).standard_normal((4, *meta["shape"])).astype(np.float32)
        sess = ort.InferenceSession(meta["path"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[meta["output"]]
        for suffix, m, st in variants:
            out = meta["path"].replace(".onnx", suffix + ".onnx")
            onnx.save(m, out)
            got = ort.InferenceSession(out).run(None, {m.graph.input[0].name: x})[meta["output"]]
            diff = float(np.abs(got - ref).max())
            index[key + suffix] = dict(meta, path=out, prep=st, prep_vs_original_max_abs_diff=diff)
            print(key + suffix, st, "ORT diff vs original:", diff)
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    tmp.replace(index_path)  # atomic: run_one.py may be reading it


if __name__ == "__main__":
    main()
