"""Markdown tables from results.jsonl / wrap.jsonl / sweep.jsonl (printed to stdout)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent


def load(name):
    p = HERE / name
    return [json.loads(l) for l in p.open()] if p.exists() else []


def short(v, n=70):
    if v is None:
        return "–"
    v = str(v).replace("|", "\\|").replace("\x1b[96m", "").replace("\x1b[0m", "")
    v = re.sub(r"\s+", " ", v)
    return v if len(v) <= n else v[: n - 1] + "…"


def yes(v):
    if v is None:
        return "–"
    s = str(v)
    if s.startswith("ok"):
        m = re.search(r"params (\d+) -> (\d+)", s)
        return "ok" + (f" ({int(m.group(2)) / int(m.group(1)):.0%} params left)" if m else "")
    return "**no**: " + short(s, 60)


def main_table(rows, title):
    print(f"\n### {title}\n")
    print("| model | converter | converts? | max abs diff | argmax | trainable / ONNX weights | backward | QAT FakeQuant | TP graph | TP 50% one layer | TP 50% global | TP FFN only | re-export dynamo | re-export legacy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        conv = r.get("convert")
        ok = conv == "ok"
        diff = f"{r['max_abs_diff']:.1e}" if isinstance(r.get("max_abs_diff"), float) else short(r.get("fidelity"), 40)
        tw = f"{r.get('trainable_params', 0):,} / {r.get('onnx_float_weights', 0):,}" if ok and "trainable_params" in r else "–"
        print("| " + " | ".join([
            r["model"], r["converter"], "yes" if ok else "**no**: " + short(conv, 90), diff if ok else "–",
            r.get("argmax_agree", "–") if ok else "–", tw, yes(r.get("backward")) if ok else "–",
            yes(r.get("qat_fakequant")) if ok else "–", yes(r.get("tp_graph")) if ok else "–",
            yes(r.get("tp_one_layer")) if ok else "–", yes(r.get("tp_global")) if ok else "–",
            yes(r.get("tp_ffn_only")) if ok and "transformer" in r["model"] else "",
            yes(r.get("reexport_dynamo")) if ok else "–", yes(r.get("reexport_legacy")) if ok else "–",
        ]) + " |")


def sweep_table(rows):
    print("\n### Opset sweep (conversion + fidelity only)\n")
    keys = sorted({r["model"] for r in rows}, key=lambda k: (k.split("__")[0], k))
    convs = sorted({r["converter"] for r in rows})
    print("| file | " + " | ".join(convs) + " |")
    print("|---|" + "---|" * len(convs))
    for k in keys:
        cells = []
        for c in convs:
            r = next((x for x in rows if x["model"] == k and x["converter"] == c), None)
            if r is None:
                cells.append("–")
            elif r.get("convert") == "ok" and "max_abs_diff" in r:
                cells.append(f"ok {r['max_abs_diff']:.0e}, {r['argmax_agree']}")
            elif r.get("convert") == "ok":
                cells.append("**run fails**: " + short(r.get("fidelity"), 60))
            else:
                cells.append("**no**: " + short(r.get("convert"), 80))
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__" and "compact" not in sys.argv:
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    res = load("results.jsonl")
    if which in ("all", "raw"):
        main_table([r for r in res if "+prep" not in r["model"]], "Raw files, converter as shipped")
    if which in ("all", "prep"):
        main_table([r for r in res if "+prep" in r["model"]], "After the ONNX clean-up (prep_onnx.py)")
    if which in ("all", "wrap"):
        main_table(load("wrap.jsonl"), "Through the prototype wrapper (wrapper.py)")
    if which in ("all", "sweep"):
        sweep_table(load("sweep.jsonl"))


def compact(v):
    if v is None:
        return "–"
    s = str(v)
    if s.startswith("ok"):
        return "ok"
    s = s.replace("\x1b[96m", "").replace("\x1b[0m", "")
    for pat, rep in [(r"TorchExportError.*", "torch.export fails"), (r"RuntimeError: mat1 and mat2 shapes cannot be multiplied.*", "fwd breaks (const Reshape)"),
                     (r"(LookupError: )?no Conv2d/Linear modules", "no modules"), (r"no Conv2d/Linear to quantize", "no modules"),
                     (r"RuntimeError: The size of tensor a.*", "fwd breaks (attn reshape)"), (r"IndexError: index \d+ is out of bounds.*", "IndexError (attn/LN)"),
                     (r"RuntimeError: shape '.*' is invalid.*", "fwd breaks (attn reshape)"), (r"RuntimeError: running_mean.*", "BN not pruned"),
                     (r".*native_batch_norm.*", "BN stats made params"), (r"RuntimeError: element 0 of tensors does not require grad.*", "no params (MatMul consts)"),
                     (r"IndexError: index out of range in self", "IndexError (bias [1,N])"), (r"UnsupportedOperatorError: Exporting the operator '(\S+)'.*", r"\1 unsupported"),
                     (r"IndexError: start out of range.*", "Slice export error"), (r"SymbolicValueError.*", "export error")]:
        s2 = re.sub(pat, rep, s)
        if s2 != s:
            return "**" + s2 + "**"
    return "**" + short(s, 40) + "**"


def compact_table(rows, title):
    print(f"\n### {title}\n")
    print("| model | converter | converts? (first failure) | max abs diff | argmax | trainable / ONNX weights | backward | QAT | TP 1 layer 50% | TP global 50% | TP FFN-only | re-export dynamo / legacy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = r.get("convert") == "ok"
        if not ok:
            c = r.get("convert", "")
            m = re.search(r"operation_type='(\w+)', version=(\d+)", c)
            c = f"no: {m.group(1)}-{m.group(2)}" if m else "no: " + short(c.replace("NotImplementedError: ", ""), 60)
            print(f"| {r['model']} | {r['converter']} | **{c}** | – | – | – | – | – | – | – | – | – |")
            continue
        tw = f"{r.get('trainable_params', 0):,} / {r.get('onnx_float_weights', 0):,}" if "trainable_params" in r else "–"
        ffn = compact(r.get("tp_ffn_only")) if "transformer" in r["model"] else ""
        print("| " + " | ".join([r["model"], r["converter"], "yes", f"{r['max_abs_diff']:.1e}" if isinstance(r.get('max_abs_diff'), float) else short(r.get('fidelity')),
                                 r.get("argmax_agree", "–"), tw, compact(r.get("backward")), compact(r.get("qat_fakequant")),
                                 compact(r.get("tp_one_layer")), compact(r.get("tp_global")), ffn,
                                 compact(r.get("reexport_dynamo")) + " / " + compact(r.get("reexport_legacy"))]) + " |")


def compact_main():
    res = load("results.jsonl")
    order = ["onnx2torch", "onnx2torch2", "onnx2pytorch", "onnx2fx"]
    raw = sorted([r for r in res if "+prep" not in r["model"]], key=lambda r: (r["model"], order.index(r["converter"])))
    compact_table(raw, "A. Raw files, converter as shipped")
    wrap = load("wrap.jsonl")
    compact_table(wrap, "B. Through the prototype wrapper (wrapper.py = prep_onnx.py + converter + post-pass)")


if __name__ == "__main__" and "compact" in sys.argv:
    compact_main()
