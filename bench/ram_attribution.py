"""RAM billed for wall time (CodeCarbon's reading) against RAM counted while the workload runs, on the same windows.

    python bench/ram_attribution.py [--runs 5] [--model digits-cnn]

Measures the 8-bit point against its baseline with the product's defaults and, from the very same windows,
prints the energy ratio, its 95% half-width and the sd of its log per pair under both rules, with the load
average beside them. Run it beside other work (a test run, a busy loop) to see what the rule is for.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402
from ecocompress.measure.energy import EnergyWindow  # noqa: E402
from ecocompress.measure.paired import measure_paired, point_first, ratio_interval  # noqa: E402
from ecocompress.measure.session import workload_opener  # noqa: E402
from ecocompress.models.registry import get_model  # noqa: E402
from ecocompress.service.api import measure_point  # noqa: E402

SETTINGS = MeasureSettings()


def _sd(ratios: list[float]) -> float:
    return statistics.stdev(math.log(r) for r in ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="digits-cnn")
    args = parser.parse_args()
    os.environ["ECOCOMPRESS_HOME"] = tempfile.mkdtemp(prefix="ecocompress-ram-")
    base = measure_point(args.model, CompressionPoint(), SETTINGS)
    eight = measure_point(args.model, CompressionPoint(bits=8), SETTINGS)
    spec = get_model(args.model)
    x, batch = spec.dataset().x_test, spec.measure_batch(SETTINGS)
    rules = {"wall time (CodeCarbon)": lambda w: w.codecarbon_kwh, "while on a CPU (product)": lambda w: w.energy_kwh}
    for run in range(args.runs):
        result = measure_paired(workload_opener(Path(base.onnx_path), x, batch, SETTINGS.ort_threads),
                                workload_opener(Path(eight.onnx_path), x, batch, SETTINGS.ort_threads),
                                batch_size=batch, settings=SETTINGS)
        first = [point_first(i) for i in range(len(result.windows))]
        share = statistics.median(w.on_cpu_share for pair in result.windows for w in pair if w is not None)
        cells = []
        for name, energy in rules.items():
            def per_inference(w: EnergyWindow) -> float:
                return energy(w) / w.inferences
            ratios = [per_inference(p) / per_inference(b) for b, p in result.windows]
            interval = ratio_interval(ratios, first)
            cells.append(f"{name}: {interval.value:.3f} +/-{interval.half_width:.1%}, sd/pair {_sd(ratios):.3f}")
        print(f"run {run + 1}: load average {os.getloadavg()[0]:.1f}, {len(result.windows)} pairs, on a CPU "
              f"{share:.0%} of the time | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
