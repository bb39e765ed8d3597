"""Prototype of the wrapper ecocompress would put around a converter: ONNX classifier -> trainable nn.Module.

    model, report = convert_for_training(onnx_bytes_or_path, converter="onnx2torch")

Steps:
1. prep_onnx.prep(): graph clean-up that keeps onnxruntime's output bit-identical (see prep_onnx.py).
2. For onnx2torch: prep_onnx.downgrade() to opset 17 when the file is newer (onnx2torch 1.5.15 stops at
   ReduceMean-13 / Squeeze-21 / ...; opset 18+ files from torch's own exporter fail otherwise).
3. Convert.
4. Post-pass so the weights are trainable modules:
   - onnx2torch: every OnnxMatMul whose right operand is a constant 2-D initializer (and the Add of a
     constant bias that follows it) becomes an nn.Linear in the fx graph; otherwise those weights stay
     frozen buffers (all of a transformer's attention/FFN weights in a dynamo=False export).
     OnnxLayerNorm whose scale/bias are constants becomes nn.LayerNorm.
   - onnx2pytorch: module names lose their "." (legacy-exported files name nodes "/features/features.0/Conv";
     a dotted module name breaks get_submodule, load_state_dict and torch.export); BatchNormWrapper calls its
     inner BN as a module so torch-pruning sees it; nn.Linear in/out_features are reset from the weight
     (Gemm transB=0 leaves them swapped); Linear biases of shape [1, N] become [N]; LayerNormalization with
     constant scale/bias becomes an nn.LayerNorm (else its affine stays a frozen buffer); ReduceMean with
     constant axes becomes a plain torch.mean (else torch.export refuses it); the duplicate `_initializer_*`
     buffers only read by Conv/Linear/BN modules and the ModelProto's own initializers are dropped.
   - export_friendly=True (onnx2torch only; experimental, off): folds constant Reshape shapes and inlines small
     integer buffers as literals. Not enough for torch.export of transformer graphs (Shape->Slice->Concat
     chains stay data-dependent), so it is off; re-export those with torch.onnx.export(dynamo=False).
5. Check against onnxruntime on a random batch (max abs diff, argmax agreement).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch
from torch import fx, nn

from prep_onnx import downgrade, prep


def _opset(model: onnx.ModelProto) -> int:
    return {o.domain: o.version for o in model.opset_import}.get("", 0)


def _get_attr(gm: fx.GraphModule, node: fx.Node) -> torch.Tensor | None:
    if getattr(node, "op", None) != "get_attr":
        return None
    obj: Any = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj if isinstance(obj, torch.Tensor) else None


def onnx2torch_matmul_to_linear(gm: fx.GraphModule) -> dict[str, int]:
    """Rewrite MatMul(x, W const 2-D) [+ Add(., b const)] into nn.Linear modules; LayerNorm(const) into nn.LayerNorm."""
    stats = {"matmul_to_linear": 0, "bias_fused": 0, "layernorm": 0}
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module":
            continue
        mod = modules.get(node.target)
        kind = type(mod).__name__
        if kind == "OnnxMatMul" and len(node.args) == 2:
            w = _get_attr(gm, node.args[1])
            if w is None or w.dim() != 2 or not w.is_floating_point():
                continue
            linear = nn.Linear(w.shape[0], w.shape[1], bias=False)
            linear.weight = nn.Parameter(w.detach().t().contiguous().clone())
            out = node
            users = list(node.users)
            user_mod = modules.get(users[0].target) if len(users) == 1 and users[0].op == "call_module" else None
            if (type(user_mod).__name__ == "OnnxBinaryMathOperation" and user_mod.math_op_function is torch.add
                    and user_mod.broadcast is None):
                add = users[0]
                other = [a for a in add.args if a is not node]
                b = _get_attr(gm, other[0]) if len(other) == 1 else None
                if b is not None and b.numel() == w.shape[1]:
                    linear.bias = nn.Parameter(b.detach().reshape(-1).clone())
                    out = add
                    stats["bias_fused"] += 1
            name = node.target.replace("/", "_").replace(".", "_") + "_linear"
            gm.add_submodule(name, linear)
            with gm.graph.inserting_before(node):
                new = gm.graph.call_module(name, (node.args[0],))
            out.replace_all_uses_with(new)
            if out is not node:
                gm.graph.erase_node(out)
            gm.graph.erase_node(node)
            stats["matmul_to_linear"] += 1
        elif kind == "OnnxLayerNorm" and len(node.args) >= 2:
            scale = _get_attr(gm, node.args[1])
            bias = _get_attr(gm, node.args[2]) if len(node.args) > 2 else None
            if scale is None or mod.axis != -1:
                continue
            ln = nn.LayerNorm(scale.shape[-1], eps=mod.epsilon, bias=bias is not None)
            ln.weight = nn.Parameter(scale.detach().clone())
            if bias is not None:
                ln.bias = nn.Parameter(bias.detach().clone())
            name = node.target.replace("/", "_").replace(".", "_") + "_ln"
            gm.add_submodule(name, ln)
            with gm.graph.inserting_before(node):
                new = gm.graph.call_module(name, (node.args[0],))
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
            stats["layernorm"] += 1
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    _drop_unused_initializers(gm)
    return stats


def _drop_unused_initializers(gm: fx.GraphModule) -> None:
    """Initializer buffers nothing reads any more (folded into Linear/reshape) leave the state dict."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    init = getattr(gm, "initializers", None)
    if init is not None:
        for bname in list(init._buffers):
            if f"initializers.{bname}" not in used:
                del init._buffers[bname]


def onnx2torch_fold_constant_reshapes(gm: fx.GraphModule) -> int:
    """OnnxReshape(x, const shape without 0) -> torch.reshape(x, (ints...)): torch.export cannot read a shape
    held in a buffer (data-dependent), so without this the converted model only re-exports with dynamo=False."""
    n = 0
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and type(modules.get(node.target)).__name__ == "OnnxReshape":
            shape = _get_attr(gm, node.args[1])
            if shape is None or bool((shape == 0).any()):
                continue
            with gm.graph.inserting_before(node):
                new = gm.graph.call_function(torch.reshape, (node.args[0], tuple(int(v) for v in shape.tolist())))
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
            n += 1
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return n


def onnx2torch_inline_int_constants(gm: fx.GraphModule, max_numel: int = 64) -> int:
    """Small integer buffers (axes, starts/ends, indices, shapes) read by get_attr -> torch.tensor(<literal>) in
    the graph. torch.export treats buffers as inputs whose values it may not read; tensors built from literals
    inside forward keep their values under FakeTensorMode, so .item()/.tolist() on them stays static."""
    n = 0
    for node in list(gm.graph.nodes):
        t = _get_attr(gm, node)
        if t is None or t.is_floating_point() or t.numel() > max_numel:
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(torch.tensor, (t.tolist(),), {"dtype": t.dtype})
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        n += 1
    gm.recompile()
    return n


try:
    from onnx2pytorch.operations import BatchNormWrapper as _BNW

    class HookableBatchNormWrapper(_BNW):
        def forward(self, X, scale=None, B=None, input_mean=None, input_var=None):
            if any(t is not None for t in (scale, B, input_mean, input_var)) or self.has_lazy:
                return super().forward(X, scale, B, input_mean, input_var)
            return self.bnu(X)
except ImportError:  # onnx2pytorch not on the path (onnx2torch runs)
    pass


class TrainableLayerNorm(nn.Module):
    """onnx2pytorch's LayerNorm takes scale/bias as inputs read from buffers (frozen, invisible to torch-pruning);
    this holds them in an nn.LayerNorm and ignores the constants the interpreter still passes in."""

    def __init__(self, scale: torch.Tensor, bias: torch.Tensor | None, eps: float):
        super().__init__()
        self.ln = nn.LayerNorm(scale.shape[-1], eps=eps, bias=bias is not None)
        with torch.no_grad():
            self.ln.weight.copy_(scale)
            if bias is not None:
                self.ln.bias.copy_(bias)

    def forward(self, x, scale=None, bias=None):
        return self.ln(x)  # not a MULTIOUTPUT layer for onnx2pytorch's interpreter: one tensor out


class StaticReduceMean(nn.Module):
    """ReduceMean with its axes fixed at conversion: onnx2pytorch's own ReduceMean turns the axes into a tensor
    and back (torch.as_tensor -> int), which torch.export reads as data-dependent and refuses."""

    def __init__(self, dims: tuple[int, ...], keepdim: bool):
        super().__init__()
        self.dims, self.keepdim = dims, keepdim

    def forward(self, data, axes=None):  # axes: the constant it was built from, ignored
        return torch.mean(data, dim=self.dims, keepdim=self.keepdim)


def onnx2pytorch_tidy(model: nn.Module) -> dict[str, int]:
    stats = {"bias_flattened": 0, "modules_renamed": 0}
    # Module names come from ONNX output names; torch's legacy exporter writes "/features/features.0/Conv_output_0",
    # and a "." inside a module name breaks get_submodule, load_state_dict, torch.export and name-based code.
    from collections import OrderedDict

    renamed = OrderedDict()
    for name, mod in model._modules.items():
        new = name.replace(".", "_")
        if new != name:
            stats["modules_renamed"] += 1
        if new in renamed:
            raise ValueError(f"module name clash after renaming: {new}")
        renamed[new] = mod
    model._modules = renamed
    # ops that are not Modules (functools.partial for Concat, ...) live in the instance __dict__
    for name in [n for n in list(vars(model)) if "." in n]:
        model.__dict__[name.replace(".", "_")] = model.__dict__.pop(name)
        stats["modules_renamed"] += 1
    if hasattr(model, "mapping"):
        model.mapping = {k: v.replace(".", "_") for k, v in model.mapping.items()}
    # BatchNormWrapper calls self.bnu.forward(X) directly, so module hooks never fire and torch-pruning cannot see
    # the BN (it prunes the conv but not the BN statistics): make it call the module.
    from onnx2pytorch.operations import BatchNormWrapper

    for m in model.modules():
        if type(m) is BatchNormWrapper:
            m.__class__ = HookableBatchNormWrapper
    # Every initializer is also registered as an `_initializer_*` buffer, and the ModelProto keeps a third copy.
    # Layers (Conv/Linear/BN) own their weights as parameters and never read those buffers: drop them.
    from onnx2pytorch.constants import COMPOSITE_LAYERS, STANDARD_LAYERS
    from onnx2pytorch.convert.operations import get_buffer_name

    from onnx import numpy_helper as _nh

    inits = {t.name: t for t in model.onnx_model.graph.initializer}
    stats["reducemean_static"] = 0
    for node in model.onnx_model.graph.node:
        if node.op_type != "ReduceMean":
            continue
        name = model.mapping[node.output[0]]
        op = getattr(model, name)
        axes = op.dim
        if len(node.input) > 1 and node.input[1]:
            axes = _nh.to_array(inits[node.input[1]]).tolist() if node.input[1] in inits else None
        if axes is None or (isinstance(axes, (list, tuple)) and len(axes) == 0):
            continue  # dynamic or empty axes: leave onnx2pytorch's op
        dims = tuple(int(a) for a in (axes if isinstance(axes, (list, tuple)) else [axes]))
        setattr(model, name, StaticReduceMean(dims, op.keepdim))
        stats["reducemean_static"] += 1

    stats["layernorm_trainable"] = 0
    for node in model.onnx_model.graph.node:
        if node.op_type != "LayerNormalization" or len(node.output) != 1 or len(node.input) < 2:
            continue
        op = getattr(model, model.mapping[node.output[0]])
        if getattr(op, "axis", None) != -1 or node.input[1] not in inits:
            continue
        if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:
            continue
        scale = torch.from_numpy(_nh.to_array(inits[node.input[1]]).copy())
        bias = torch.from_numpy(_nh.to_array(inits[node.input[2]]).copy()) if len(node.input) > 2 and node.input[2] else None
        if scale.dim() != 1:
            continue
        setattr(model, model.mapping[node.output[0]], TrainableLayerNorm(scale, bias, op.eps))
        stats["layernorm_trainable"] += 1

    read = set()
    for node in model.onnx_model.graph.node:
        op = getattr(model, model.mapping[node.output[0]])
        is_layer = isinstance(op, STANDARD_LAYERS) or (
            isinstance(op, COMPOSITE_LAYERS) and any(isinstance(x, STANDARD_LAYERS) for x in op.modules()))
        if not is_layer:
            read.update(node.input)
    dropped = 0
    for t in model.onnx_model.graph.initializer:
        name = get_buffer_name(t.name)
        if t.name not in read and name in model._buffers:
            del model._buffers[name]
            dropped += int(np.prod(t.dims))
    del model.onnx_model.graph.initializer[:]
    stats["duplicate_buffer_elements_dropped"] = dropped
    stats["linear_features_fixed"] = 0
    for m in model.modules():
        # Gemm with transB=0 (skl2onnx, MatMul+Add fused by prep): onnx2pytorch transposes the weight but keeps
        # in_features/out_features from the untransposed shape; torch-pruning reads them and prunes the wrong count.
        if isinstance(m, nn.Linear) and (m.out_features, m.in_features) != tuple(m.weight.shape):
            m.out_features, m.in_features = m.weight.shape
            stats["linear_features_fixed"] += 1
        if isinstance(m, nn.Linear) and m.bias is not None and m.bias.dim() > 1:
            m.bias = nn.Parameter(m.bias.detach().reshape(-1).clone())
            stats["bias_flattened"] += 1
    return stats


def convert_for_training(source, converter: str = "onnx2torch", check_shape: tuple[int, ...] | None = None,
                         export_friendly: bool = False):
    model = source if isinstance(source, onnx.ModelProto) else onnx.load(source)
    original = model
    model, stats = prep(model)
    if converter == "onnx2torch":
        if _opset(model) > 17:
            model = downgrade(model, 17)
            stats["downgraded_to"] = 17
        from onnx2torch import convert

        torch_model = convert(model)
        stats.update(onnx2torch_matmul_to_linear(torch_model))
        if export_friendly:  # helps torch.export (dynamo=True); breaks nothing in torch, but see the report
            stats["reshape_folded"] = onnx2torch_fold_constant_reshapes(torch_model)
            stats["int_constants_inlined"] = onnx2torch_inline_int_constants(torch_model)
            _drop_unused_initializers(torch_model)
    elif converter == "onnx2pytorch":
        from onnx2pytorch import ConvertModel

        torch_model = ConvertModel(model)
        stats.update(onnx2pytorch_tidy(torch_model))
    else:
        raise ValueError(converter)
    if check_shape is not None:
        import onnxruntime as ort

        x = np.random.default_rng(0).standard_normal((16, *check_shape)).astype(np.float32)
        sess = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            got = torch_model.eval()(torch.from_numpy(x))
        got = got[0] if isinstance(got, (list, tuple)) else got
        got = got.numpy()
        stats["check_max_abs_diff"] = float(np.abs(got - ref).max())
        stats["check_argmax_agree"] = float((got.argmax(-1) == ref.argmax(-1)).mean())
    return torch_model, stats
