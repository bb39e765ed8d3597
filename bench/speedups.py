"""Which compressed points are really >= 2x cheaper than fp32, per sample model, in one run.

    python bench/speedups.py [--models digits-cnn,mnist-lenet300,mnist-lenet5]

For each model a few candidate points that can run faster on a CPU (int8 runtimes, a
distilled student, structured pruning) are produced and measured by the product
(``measure_point``: latency at batch 256 and CodeCarbon energy, both against the model's
fp32 baseline). Prints each point's accuracy change, latency and energy ratios, and whether
it is within 1 point of accuracy with both ratios <= 0.5 (the issue's target).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compression.api import measure_point  # noqa: E402
from compression.models import SAMPLE_MODELS  # noqa: E402
from compression.points import CompressionPoint  # noqa: E402

CANDIDATES = [
    CompressionPoint(bits=8),
    CompressionPoint(sparsity=0.9, bits=4),
    CompressionPoint(student_width=0.5, bits=8),
    CompressionPoint(sparsity=0.5, structured=True, bits=8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SAMPLE_MODELS))
    args = parser.parse_args()
    started = time.perf_counter()
    for model in args.models.split(","):
        print(f"\n## {model}")
        print(f"{'setting':<34} {'accuracy':>9} {'change':>8} {'latency x':>9} {'energy x':>8} {'stored x':>8}  {'2x target':<9} runs as")
        for point in CANDIDATES:
            m = measure_point(model, point)
            latency_ratio = 1 / m.speedup_measured
            ok = m.accuracy_drop_points <= 1.0 and latency_ratio <= 0.5 and m.energy_ratio <= 0.5
            print(f"{m.label:<34} {m.accuracy:>9.2%} {-m.accuracy_drop_points:>+8.2f} {latency_ratio:>9.2f} "
                  f"{m.energy_ratio:>8.2f} {m.storage_ratio:>8.1f}  {'met' if ok else 'not met':<9} {m.runtime_format}")
    print(f"\n(ratios are this point / fp32 baseline, latency per item at batch 256; energy estimated by CodeCarbon; "
          f"total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
