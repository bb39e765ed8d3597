"""Which compressed points are really >= 2x cheaper than fp32, per sample model, in one run.

    python bench/speedups.py [--models digits-cnn,mnist-lenet300,mnist-lenet5] [--repeats 3]

For each model a few candidate points that can run faster on a CPU (int8 runtimes, pruning
with k-bit storage, a distilled student, structured pruning) are produced and measured by
the product (``measure_point``: accuracy on the full test set, the runnable format chosen by
timing). Then the fp32 baseline and every candidate are timed and metered again *side by
side*, interleaved, so their latency and energy ratios are not distorted by machine drift.
A point meets the target when it is within 1 point of accuracy and both ratios are <= 0.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.service.api import measure_point  # noqa: E402
from ecocompress.models.registry import SAMPLE_MODELS, get_model  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from sidebyside import side_by_side  # noqa: E402

CANDIDATES = [
    CompressionPoint(bits=8),
    CompressionPoint(sparsity=0.9, bits=4),
    CompressionPoint(student_width=0.5, bits=8),
    CompressionPoint(sparsity=0.5, structured=True, bits=8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SAMPLE_MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    for model in args.models.split(","):
        results = {p.label(): measure_point(model, p) for p in [CompressionPoint(), *CANDIDATES]}
        timings = side_by_side(
            {label: Path(m.onnx_path) for label, m in results.items()}, get_model(model).dataset().x_test,
            repeats=args.repeats,
        )
        base = timings["fp32 baseline"]
        print(f"\n## {model}  (latency per item at batch 256 and energy, {args.repeats} interleaved repeats)")
        print(f"{'setting':<34} {'accuracy':>9} {'change':>8} {'latency x':>9} {'energy x':>8} {'stored x':>8}  "
              f"{'2x target':<9} runs as")
        for label, m in results.items():
            lat = timings[label].median("latb_ms") / base.median("latb_ms")
            energy = timings[label].median("wh_per_1k") / base.median("wh_per_1k")
            ok = m.accuracy_drop_points <= 1.0 and lat <= 0.5 and energy <= 0.5
            print(f"{label:<34} {m.accuracy:>9.2%} {-m.accuracy_drop_points + 0.0:>+8.2f} {lat:>9.2f} {energy:>8.2f} "
                  f"{m.storage_ratio:>8.1f}  {'met' if ok else '-':<9} {m.runtime_format}")
        print(f"energy method: {base.method}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
