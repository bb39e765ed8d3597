"""How precise is an energy ratio? The old protocol against the paired one, side by side in one run.

    python bench/precision.py [--models digits-cnn,mnist-lenet300,mnist-lenet5] [--runs 5] [--bits 8]

For each sample model, the 8-bit point's energy ratio to fp32 is re-measured ``--runs`` times, each time
in a fresh process (as a new session or a CLI call would), alternating the two protocols so drift of the
machine hits both alike:

- old: 3 baseline windows of 2 s, then 3 point windows of 2 s; ratio = median(point) / median(baseline)
  (what the product did before; it reported no interval);
- paired: the product's ``measure.paired`` with its defaults (pairs of 1.25 s windows, B P / P B, until the
  95% interval is within +/- 5% or 45 s have passed).

Printed per model: the ratio's coefficient of variation over the runs, the paired interval's half-width,
how often a paired interval covers the median of all paired re-measures, and seconds per point.
Targets on a quiet machine: CV <= 3%, half-width <= 5%, coverage >= 90%, <= 30 s per point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402
from ecocompress.models.registry import SAMPLE_MODELS, get_model  # noqa: E402

OLD_WINDOWS, OLD_WINDOW_S = 3, 2.0


def one_run(model: str, protocol: str, baseline: str, point: str) -> dict:
    """One re-measure in this (fresh) process: ratio, interval and seconds, as JSON on stdout."""
    from ecocompress.measure.energy import measure_window, warm_up_codecarbon
    from ecocompress.measure.paired import measure_paired
    from ecocompress.measure.session import open_session, session_workload, workload_opener

    settings = MeasureSettings()
    batch = get_model(model).measure_batch(settings)
    x = get_model(model).dataset().x_test
    base_work = session_workload(open_session(Path(baseline)), x, batch)
    point_work = session_workload(open_session(Path(point)), x, batch)
    warm_up_codecarbon(settings.country)  # the one-off hardware detection is not part of a point's time
    started = time.perf_counter()
    if protocol == "old":
        def windows(work) -> list[float]:
            return [measure_window(work, min_seconds=OLD_WINDOW_S, min_inferences=4 * batch)[0].wh_per_1k
                    for _ in range(OLD_WINDOWS)]

        base, pt = windows(base_work), windows(point_work)
        return {"ratio": statistics.median(pt) / statistics.median(base), "low": None, "high": None,
                "seconds": time.perf_counter() - started, "pairs": None}
    result = measure_paired(workload_opener(Path(baseline), x, batch), workload_opener(Path(point), x, batch),
                            batch_size=batch, settings=settings)
    return {"ratio": result.energy_ratio.value, "low": result.energy_ratio.low, "high": result.energy_ratio.high,
            "seconds": time.perf_counter() - started, "pairs": result.pairs, "discarded": result.discarded}


def _subprocess(model: str, protocol: str, baseline: Path, point: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", model, "--protocol", protocol, "--baseline", str(baseline), "--point", str(point)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def bench_model(name: str, runs: int, bits: int, workdir: Path) -> None:
    spec = get_model(name)
    baseline = spec.build_artifact(CompressionPoint(), workdir / f"{name}-fp32.onnx")
    point = spec.build_artifact(CompressionPoint(bits=bits), workdir / f"{name}-{bits}bit.onnx")
    found: dict[str, list[dict]] = {"old": [], "paired": []}
    for _ in range(runs):
        for protocol in found:  # alternate, so drift of the machine hits both protocols alike
            found[protocol].append(_subprocess(name, protocol, baseline.onnx_path, point.onnx_path))
    paired = found["paired"]
    centre = statistics.median(r["ratio"] for r in paired)
    covered = sum(r["low"] <= centre <= r["high"] for r in paired)
    half = [(r["high"] - r["low"]) / 2 / r["ratio"] for r in paired]
    print(f"\n## {name}: {bits}-bit ({point.runtime_format}) vs fp32, {runs} runs per protocol, each in a fresh process")
    print(f"{'protocol':<8} {'ratios':<44} {'ratio CV':>8} {'half-width (median, max)':>25} {'coverage':>9} {'s / point':>10}")
    for protocol, rows in found.items():
        ratios = [r["ratio"] for r in rows]
        width = f"{statistics.median(half):.1%}, {max(half):.1%}" if protocol == "paired" else "n/a (no interval)"
        cover = f"{covered}/{len(paired)}" if protocol == "paired" else "n/a"
        print(f"{protocol:<8} {' '.join(f'{r:.3f}' for r in ratios):<44} {_cv(ratios):>8.1%} {width:>25} {cover:>9} "
              f"{statistics.median(r['seconds'] for r in rows):>10.1f}")
    pairs = [r["pairs"] for r in paired]
    print(f"paired: {min(pairs)}-{max(pairs)} pairs kept, {sum(r['discarded'] for r in paired)} set aside as meter glitches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SAMPLE_MODELS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--protocol", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.protocol, args.baseline, args.point)))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            bench_model(name, args.runs, args.bits, Path(tmp))
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
