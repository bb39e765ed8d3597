"""all-MiniLM-L6-v2: fp32 vs onnxruntime int8 vs the best point found, side by side in one run.

    python bench/minilm.py [--model minilm-l6|minilm-topics] [--max-drop 5] [--repeats 3]

fp32 is the exported original; int8 is onnxruntime's dynamic quantization of its MatMuls; the
best point is the lowest-energy one among a few candidates measured by the product
(``measure_point``: students, structured pruning with recovery, k-bit weights, runtime chosen by
timing) whose quality stays within --max-drop points: for ``minilm-l6`` agreement with the original
(top-5 neighbours kept, on 600 held-out sentences), for ``minilm-topics`` (the 22.6M-parameter topic
classifier) test accuracy on its 600 held-out sentences. Each candidate's seconds (build + measure,
the baseline counted once before them) are printed. All three are then timed and metered side by side,
interleaved.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core.choice import recommend  # noqa: E402
from ecocompress.service.api import measure_point  # noqa: E402
from ecocompress.measure.session import open_session  # noqa: E402
from ecocompress.models.registry import get_model  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from sidebyside import side_by_side  # noqa: E402

CANDIDATES = [
    CompressionPoint(bits=8),
    CompressionPoint(bits=4),
    CompressionPoint(sparsity=0.25, structured=True, bits=8),
    CompressionPoint(sparsity=0.5, structured=True, bits=8),
    CompressionPoint(student_width=0.5, bits=8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["minilm-l6", "minilm-topics"], default="minilm-l6")
    parser.add_argument("--max-drop", type=float, default=5.0, help="quality budget in points (default 5)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    spec = get_model(args.model)
    embeddings = spec.name == "minilm-l6"
    base = measure_point(spec.name, CompressionPoint())
    print(f"baseline: {base.accuracy:.2%} ({spec.quality_metric}), {time.perf_counter() - started:.0f} s", file=sys.stderr)
    measured, seconds = [], []
    for point in CANDIDATES:
        begun = time.perf_counter()
        measured.append(measure_point(spec.name, point))
        seconds.append(time.perf_counter() - begun)
    rec = recommend([base, *measured], args.max_drop)
    best = rec.record.to_dict() if rec and rec.within_budget else None
    print(f"candidates (measured by the product; budget {args.max_drop:g} points of {spec.quality_metric}):", file=sys.stderr)
    for m, took in zip(measured, seconds):
        quality = (f"top-5 kept {m.accuracy:.1%}, top-1 {m.fidelity_top1:.1%}, cosine {m.fidelity_cosine:.4f}" if embeddings
                   else f"accuracy {m.accuracy:.2%} ({m.accuracy_change_points:+.2f} points)")
        print(f"  {m.label:<34} {quality}, energy {m.energy_ratio:.2f}x (95%: {m.energy_ratio_ci_low:.2f}-"
              f"{m.energy_ratio_ci_high:.2f}), {m.energy_wh_per_1k * 1e3:.3f} mWh/1k, runs as {m.runtime_format}, "
              f"{took:.0f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "int8.onnx"
        quantize_dynamic(base.onnx_path, str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True)
        paths = {"fp32 (original)": Path(base.onnx_path), "onnxruntime dynamic int8": int8,
                 f"best: {best['label']}": Path(best["onnx_path"])}
        quality = {label: spec.evaluate(open_session(path)) for label, path in paths.items()}
        storage = {"fp32 (original)": base.storage_bytes, "onnxruntime dynamic int8": int8.stat().st_size,
                   f"best: {best['label']}": best["storage_bytes"]}
        timings = side_by_side(paths, spec.dataset().x_test, repeats=args.repeats)
        fp32 = timings["fp32 (original)"]
        print(f"\n## {spec.title}: 600 held-out sentences of 32 tokens, 1 thread, {args.repeats} interleaved repeats, "
              "energy at batch 256")
        header = f"{'top-5 kept':>10} {'top-1':>6} {'cosine':>7}" if embeddings else f"{'accuracy':>24}"
        print(f"{'variant':<44} {header} {'runnable MB':>11} {'stored MB':>9} {'latency x':>9} {'energy x':>8} {'mWh/1k':>7}")
        for label, path in paths.items():
            q, t = quality[label], timings[label]
            figures = f"{q.accuracy:>10.1%} {q.top1:>6.1%} {q.cosine:>7.4f}" if embeddings else f"{q.accuracy:>24.2%}"
            print(f"{label:<44} {figures} {path.stat().st_size / 1e6:>11.1f} "
                  f"{storage[label] / 1e6:>9.1f} {t.median('latb_ms') / fp32.median('latb_ms'):>9.2f} "
                  f"{t.median('wh_per_1k') / fp32.median('wh_per_1k'):>8.2f} {t.median('wh_per_1k') * 1e3:>7.3f}")
        print(f"energy method: {fp32.method}; best point: {best['technique_notes']}; runs as {best['runtime_format']}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
