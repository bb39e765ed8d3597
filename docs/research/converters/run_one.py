"""Convert one ONNX file with one converter and test the result; prints one JSON line.

usage: python run_one.py CONVERTER KEY [--quick]
  CONVERTER: onnx2torch | onnx2torch2 | onnx2pytorch | onnx2fx
  KEY: an entry of /tmp/conv_onnx/index.json (written by export_models.py)
  --quick: conversion + fidelity only (the opset sweep)

Run it with PYTHONPATH=/tmp/convlib/<converter>:/tmp/convlib/tvstub (see run_all.py).
Steps: convert -> fidelity vs onnxruntime (16 random examples) -> trainability (weight modules, params
requiring grad, train-mode forward + loss.backward, one SGD step changes the output, project-style
FakeQuant parametrization on every Conv2d/Linear) -> torch-pruning (DependencyGraph; 50% of one
layer's output channels via DependencyGraph group and via MagnitudePruner; then a global 50%
MagnitudePruner step) -> forward and backward after pruning.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import traceback
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

warnings.simplefilter("ignore")
torch.set_num_threads(1)
INDEX = json.load(open("/tmp/conv_onnx/index.json"))


def first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0][:300] if msg else ''}"


def convert(converter: str, path: str) -> nn.Module:
    model = onnx.load(path)
    if converter.endswith("+wrap"):  # the prototype wrapper (prep + post-pass), see wrapper.py
        sys.path.insert(0, "/tmp/converter_scripts")
        from wrapper import convert_for_training
        m, stats = convert_for_training(model, converter.split("+")[0])
        print("WRAP", json.dumps(stats), file=sys.stderr)
        return m
    if converter == "onnx2torch":
        from onnx2torch import convert as c
        return c(model)
    if converter == "onnx2torch2":
        from onnx2torch2 import convert as c
        return c(model)
    if converter == "onnx2pytorch":
        from onnx2pytorch import ConvertModel
        return ConvertModel(model)
    if converter == "onnx2fx":
        from onnx2fx import convert as c, make_trainable
        return make_trainable(c(model))
    raise ValueError(converter)


def pick(out, index: int) -> torch.Tensor:
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        out = out[index]
    return out


def forward(model, x, index):
    return pick(model(x), index)


def weight_modules(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def module_census(model):
    kinds = {}
    for _, m in model.named_modules():
        name = type(m).__name__
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d, nn.LayerNorm, nn.MultiheadAttention)):
            kinds[name] = kinds.get(name, 0) + 1
    return kinds


def onnx_float_weights(path):
    m = onnx.load(path)
    return int(sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT))


def main():
    converter, key = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    meta = INDEX[key]
    r = {"converter": converter, "model": key}
    if "error" in meta:
        r["convert"] = f"export failed: {meta['error']}"
        print(json.dumps(r))
        return
    path, shape, idx = meta["path"], tuple(meta["shape"]), meta["output"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, *shape, generator=gen)
    y = torch.randint(0, meta["classes"], (16,), generator=gen)

    t0 = time.time()
    try:
        model = convert(converter, path)
        r["convert"] = "ok"
    except Exception as exc:  # noqa: BLE001
        r["convert"] = first_line(exc)
        r["trace"] = traceback.format_exc(limit=-3)[-800:]
        print(json.dumps(r))
        return
    r["convert_s"] = round(time.time() - t0, 2)
    r["type"] = type(model).__name__

    # ---- fidelity ----
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    ref = sess.run(None, feed)[idx]
    try:
        model.eval()
        with torch.no_grad():
            out = forward(model, x, idx).detach().numpy()
        r["max_abs_diff"] = float(np.abs(out - ref).max())
        r["argmax_agree"] = f"{int((out.argmax(-1) == ref.argmax(-1)).sum())}/{len(ref)}"
        with torch.no_grad():
            one = forward(model, x[:1], idx)
        r["batch1_ok"] = list(one.shape) == [1, ref.shape[-1]]
    except Exception as exc:  # noqa: BLE001
        r["fidelity"] = first_line(exc)
        r["trace"] = traceback.format_exc(limit=-3)[-800:]
        print(json.dumps(r))
        return
    if quick:
        print(json.dumps(r))
        return

    # ---- trainability ----
    wm = weight_modules(model)
    r["modules"] = module_census(model)
    params = [p for p in model.parameters() if p.requires_grad]
    r["trainable_params"] = int(sum(p.numel() for p in params))
    r["onnx_float_weights"] = onnx_float_weights(path)
    r["buffers"] = int(sum(b.numel() for b in model.buffers() if b.is_floating_point()))
    try:
        m = copy.deepcopy(model).train()
        out = forward(m, x, idx)
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        with_grad = [p for p in m.parameters() if p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0]
        r["backward"] = f"ok ({len(with_grad)}/{len([p for p in m.parameters() if p.requires_grad])} params get grads)"
        opt = torch.optim.SGD(m.parameters(), lr=0.05)
        opt.step()
        m.eval()
        with torch.no_grad():
            after = forward(m, x, idx).numpy()
        r["sgd_step_changes_output"] = bool(np.abs(after - out.detach().numpy()).max() > 1e-6) if with_grad else False
    except Exception as exc:  # noqa: BLE001
        r["backward"] = first_line(exc)
    # train-mode vs eval-mode (BN in train mode should use batch stats; dropout differs too)
    try:
        m = copy.deepcopy(model)
        with torch.no_grad():
            ev = forward(m.eval(), x, idx)
            tr = forward(m.train(), x, idx)
        r["train_vs_eval_diff"] = float((ev - tr).abs().max())
    except Exception as exc:  # noqa: BLE001
        r["train_vs_eval_diff"] = first_line(exc)
    # project-style QAT: FakeQuant parametrization on every Conv2d/Linear weight
    try:
        sys.path.insert(0, "/work/main/compression")
        from torch.nn.utils import parametrize
        from ecocompress.compressor.techniques.kbit import FakeQuant

        m = copy.deepcopy(model).train()
        mods = weight_modules(m)
        for _, mod in mods:
            parametrize.register_parametrization(mod, "weight", FakeQuant(4, (mod.weight != 0).float()))
        out = forward(m, x, idx)
        nn.functional.cross_entropy(out, y).backward()
        r["qat_fakequant"] = f"ok on {len(mods)} layers" if mods else "no Conv2d/Linear to quantize"
    except Exception as exc:  # noqa: BLE001
        r["qat_fakequant"] = first_line(exc)

    # ---- torch-pruning ----
    import torch_pruning as tp

    example = x[:2]
    r["tp_version"] = tp.__version__
    try:
        tp.DependencyGraph().build_dependency(copy.deepcopy(model).eval(), example_inputs=example)
        r["tp_graph"] = "ok"
    except Exception as exc:  # noqa: BLE001
        r["tp_graph"] = first_line(exc)
    # one layer: the first conv if any, else the first linear; never the output layer
    convs = [n for n, mm in wm if isinstance(mm, nn.Conv2d)]
    target = (convs[0] if convs else wm[0][0]) if wm else None
    r["tp_target"] = target

    def check(m, before):
        with torch.no_grad():
            o = forward(m.eval(), x, idx)
        assert tuple(o.shape) == tuple(ref.shape), f"output shape {tuple(o.shape)} != {tuple(ref.shape)}"
        m.train()
        nn.functional.cross_entropy(forward(m, x, idx), y).backward()
        after = sum(p.numel() for p in m.parameters())
        return f"ok (params {before} -> {after})"

    pruned_one = None
    try:  # DependencyGraph group, 50% of the target's output channels by L2 magnitude
        if target is None:
            raise LookupError("no Conv2d/Linear modules")
        m = copy.deepcopy(model).eval()
        mods = dict(m.named_modules())
        layer = mods[target]
        before = sum(p.numel() for p in m.parameters())
        dg = tp.DependencyGraph().build_dependency(m, example_inputs=example)
        w = layer.weight.detach().flatten(1).norm(dim=1)
        idxs = w.argsort()[: w.numel() // 2].tolist()
        fn = tp.prune_conv_out_channels if isinstance(layer, nn.Conv2d) else tp.prune_linear_out_channels
        group = dg.get_pruning_group(layer, fn, idxs=idxs)
        group.prune()
        r["tp_one_layer"] = check(m, before)
        pruned_one = m
    except Exception as exc:  # noqa: BLE001
        r["tp_one_layer"] = first_line(exc)
    try:  # MagnitudePruner restricted to the target layer
        if target is None:
            raise LookupError("no Conv2d/Linear modules")
        m = copy.deepcopy(model).eval()
        mods = dict(m.named_modules())
        before = sum(p.numel() for p in m.parameters())
        last = wm[-1][0]
        pruner = tp.pruner.MagnitudePruner(
            m, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=0.0,
            pruning_ratio_dict={mods[target]: 0.5}, ignored_layers=[mods[last]],
        )
        pruner.step()
        r["tp_magnitude_one_layer"] = check(m, before)
    except Exception as exc:  # noqa: BLE001
        r["tp_magnitude_one_layer"] = first_line(exc)
    try:  # MagnitudePruner, 50% of every prunable layer except the output layer
        if target is None:
            raise LookupError("no Conv2d/Linear modules")
        m = copy.deepcopy(model).eval()
        mods = dict(m.named_modules())
        before = sum(p.numel() for p in m.parameters())
        pruner = tp.pruner.MagnitudePruner(
            m, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=0.5,
            ignored_layers=[mods[wm[-1][0]]],
        )
        pruner.step()
        r["tp_global"] = check(m, before)
    except Exception as exc:  # noqa: BLE001
        r["tp_global"] = first_line(exc)
    if "transformer" in key:  # prune only the feed-forward hidden units (Linear 128->256), leave attention alone
        try:
            m = copy.deepcopy(model).eval()
            lin = [mm for _, mm in weight_modules(m) if isinstance(mm, nn.Linear)]
            ffn = [mm for mm in lin if mm.in_features == 128 and mm.out_features == 256]
            before = sum(p.numel() for p in m.parameters())
            if not ffn:
                raise RuntimeError(f"no Linear(128->256) modules (Linear: {[(l.in_features, l.out_features) for l in lin]})")
            pruner = tp.pruner.MagnitudePruner(
                m, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=0.0,
                pruning_ratio_dict={f: 0.5 for f in ffn}, ignored_layers=[mm for mm in lin if mm not in ffn],
            )
            pruner.step()
            r["tp_ffn_only"] = check(m, before) + f" [{len(ffn)} FFN layers]"
        except Exception as exc:  # noqa: BLE001
            r["tp_ffn_only"] = first_line(exc)

    # ---- pickling (worker processes) and export back to ONNX (the project's own exporter, dynamo, opset 18) ----
    import pickle
    import tempfile

    try:
        m2 = pickle.loads(pickle.dumps(model))
        with torch.no_grad():
            same = float((forward(m2.eval(), x, idx) - forward(model.eval(), x, idx)).abs().max())
        r["pickle"] = f"ok (diff {same:.1e})"
    except Exception as exc:  # noqa: BLE001
        r["pickle"] = first_line(exc)
    class OneInput(nn.Module):  # torch.export cannot map dynamic_shapes onto onnx2pytorch's forward(*inputs)
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return pick(self.inner(x), idx)

    target_model = OneInput(pruned_one if pruned_one is not None else model)
    r["reexport_of"] = "one-layer-pruned" if pruned_one is not None else "unpruned"
    for how in ("dynamo", "legacy"):
        try:
            with tempfile.TemporaryDirectory() as d:
                out_path = f"{d}/m.onnx"
                target_model.eval()
                if how == "dynamo":
                    from ecocompress.compressor.export import export_onnx
                    export_onnx(target_model, shape, __import__("pathlib").Path(out_path))
                else:
                    torch.onnx.export(target_model, (x[:2],), out_path, dynamo=False, input_names=["input"],
                                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, opset_version=17)
                s2 = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"])
                got = s2.run(None, {s2.get_inputs()[0].name: x.numpy()})[0]
                with torch.no_grad():
                    want = forward(target_model, x, idx).numpy()
                r[f"reexport_{how}"] = f"ok (max diff {float(np.abs(got - want).max()):.1e})"
        except Exception as exc:  # noqa: BLE001
            r[f"reexport_{how}"] = first_line(exc)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
