"""fp32 vs 8-bit on every sample model, measured side by side in one run (interleaved).

    python bench/measure.py [--repeats 5] [--window 2.0] [--models digits-cnn,...]

For each model: build both artifacts, then alternate fp32 / int8 for every latency and energy
window so drift of the machine hits both alike. Prints accuracy, size ratio, latency ratio,
energy ratio and the coefficient of variation of energy over the repeats.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.measure.session import measure_accuracy, open_session  # noqa: E402
from ecocompress.models.registry import SAMPLE_MODELS, get_model  # noqa: E402
from ecocompress.compressor.pipeline import build_artifact  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from sidebyside import BATCH, side_by_side  # noqa: E402

VARIANTS = {"fp32": CompressionPoint(), "int8": CompressionPoint(bits=8)}


def bench_model(name: str, repeats: int, window: float, workdir: Path) -> dict[str, dict]:
    spec = get_model(name)
    data = spec.dataset()
    rows: dict[str, dict] = {}
    for variant, point in VARIANTS.items():
        artifact = build_artifact(spec, point, workdir / f"{name}-{variant}.onnx")
        rows[variant] = {
            "format": artifact.runtime_format,
            "accuracy": measure_accuracy(open_session(artifact.onnx_path), data.x_test, data.y_test),
            "size": artifact.onnx_path.stat().st_size,
            "path": artifact.onnx_path,
        }
    timings = side_by_side({v: r["path"] for v, r in rows.items()}, data.x_test, repeats=repeats, window=window)
    for variant, row in rows.items():
        row["t"] = timings[variant]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per energy window")
    parser.add_argument("--models", default=",".join(SAMPLE_MODELS))
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows = bench_model(name, args.repeats, args.window, Path(tmp))
            base = rows["fp32"]
            print(f"\n## {name}  ({args.repeats} interleaved repeats, energy windows >= {args.window:g} s at batch {BATCH}, 1 thread)")
            print(f"{'variant':<6} {'runs as':<52} {'accuracy':>8} {'size':>10} {'size x':>7} "
                  f"{'lat b1 ms':>10} {'lat b1 x':>8} {'lat b256 µs':>11} {'lat x':>6} {'mWh/1k':>8} {'energy x':>8} {'energy CV':>9}")
            for variant, row in rows.items():
                t, bt = row["t"], base["t"]
                e, b = t.median("wh_per_1k"), bt.median("wh_per_1k")
                l1, l1b = t.median("lat1_ms"), bt.median("lat1_ms")
                lb, lbb = t.median("latb_ms"), bt.median("latb_ms")
                print(
                    f"{variant:<6} {row['format']:<52} {row['accuracy'].accuracy * 100:>7.2f}% {row['size']:>10,} "
                    f"{base['size'] / row['size']:>6.2f}x {l1:>10.4f} {l1 / l1b:>7.2f}x {lb * 1e3:>11.2f} {lb / lbb:>5.2f}x "
                    f"{e * 1e3:>8.4f} {e / b:>7.2f}x {t.cv('wh_per_1k') * 100:>8.1f}%"
                )
            print(f"energy method: {base['t'].method}; test examples: {base['accuracy'].n:,}")
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
