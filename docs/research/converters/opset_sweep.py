"""Export ResNet-18, the MLP and the transformer at several opsets (adds "<model>__<exporter>-opN" to the index).

legacy (dynamo=False): opsets 11, 13, 17; dynamo=True: opsets 18, 20, 21, 22, 23 (whatever torch accepts).
Then run: python run_all.py sweep.jsonl --quick --only -op
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import onnx
import torch

from export_models import MLP, ResNet18, TransformerClassifier, randomize_bn

OUT = Path("/tmp/conv_onnx")


def main():
    index = json.loads((OUT / "index.json").read_text())
    torch.manual_seed(0)
    models = {"resnet18": (randomize_bn(ResNet18()).eval(), (3, 32, 32)), "mlp": (MLP().eval(), (64,)),
              "transformer": (TransformerClassifier().eval(), (16, 32))}
    plan = [("legacy", o) for o in (11, 13, 17)] + [("dynamo", o) for o in (18, 20, 21, 22, 23)]
    for name, (model, shape) in models.items():
        example = torch.randn(2, *shape)
        for exporter, opset in plan:
            key = f"{name}__{exporter}-op{opset}"
            path = OUT / f"{key}.onnx"
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    if exporter == "dynamo":
                        batch = torch.export.Dim("batch", min=1)
                        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                                          input_names=["input"], output_names=["logits"], dynamic_shapes=({0: batch},),
                                          opset_version=opset)
                    else:
                        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"],
                                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                          opset_version=opset)
                m = onnx.load(str(path))
                real = {o.domain: o.version for o in m.opset_import}.get("", None)
                index[key] = dict(path=str(path), shape=list(shape), classes=10, output=0, output_kind="logits",
                                  ops=sorted({n.op_type for n in m.graph.node}), opset=real)
                print(key, "ok, opset in file:", real)
            except Exception as exc:  # noqa: BLE001
                index[key] = dict(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                print(key, "FAILED", index[key]["error"])
    tmp = OUT / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    tmp.replace(OUT / "index.json")  # atomic: run_one.py may be reading it


if __name__ == "__main__":
    main()
