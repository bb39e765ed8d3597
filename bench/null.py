"""How often does a difference that does not exist get called a saving? The noise floor, measured.

    python bench/null.py [--runs 20] [--eight-bit 3] [--model digits-cnn]

Each run starts from an empty store (a new ecocompress home), as a new workshop machine would, and measures
with the product's defaults (``MeasureSettings()``: pairs of 1.25 s windows until +/- 5% or 45 s):

- the baseline, which the product measures against a fresh copy of itself (A/A): its spread is the series'
  measurement floor;
- the no-op: 10% unstructured sparsity, which runs the same dense fp32 graph as the baseline;
- an identical-graph point: the baseline's own file copied and measured as a point would be (fresh sessions
  every pair, the run's floor applied).

Printed: how often each is called significant (target <= 1 in 20 at 95%), its median half-width and seconds
per point; then the 8-bit point, re-measured ``--eight-bit`` times on the last run's store, whose saving must
stay significant with a half-width <= 10% in <= 45 s of windows, so the cost of the wider protocol shows.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core.files import copy_file  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402
from ecocompress.measure.paired import measurable, measure_paired  # noqa: E402
from ecocompress.measure.session import workload_opener  # noqa: E402
from ecocompress.models.registry import get_model  # noqa: E402
from ecocompress.service.api import measure_point  # noqa: E402

SETTINGS = MeasureSettings()
NO_OP = CompressionPoint(sparsity=0.1)
EIGHT_BIT = CompressionPoint(bits=8)


def identical_point(model: str, baseline_path: Path, floor: float, workdir: Path) -> tuple[bool, float, float]:
    """The baseline against a fresh copy of its file, judged as a point: (significant, half-width, seconds)."""
    spec = get_model(model)
    x, batch = spec.dataset().x_test, spec.measure_batch(SETTINGS)
    copy = copy_file(baseline_path, workdir / "identical.onnx")
    started = time.perf_counter()
    result = measure_paired(workload_opener(baseline_path, x, batch, SETTINGS.ort_threads),
                            workload_opener(copy, x, batch, SETTINGS.ort_threads), batch_size=batch, settings=SETTINGS)
    return measurable(result.energy_ratio, floor), result.energy_ratio.half_width, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--eight-bit", type=int, default=3)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--eight-bit-budget", type=float, default=SETTINGS.energy_budget_s,
                        help="seconds of windows the 8-bit point may use (the target allows 45)")
    args = parser.parse_args()
    rows: dict[str, list[tuple[bool, float, float]]] = {"no-op (10% sparse)": [], "identical graph": []}
    floors: list[float] = []
    for run in range(args.runs):
        home = empty_home()
        baseline = measure_point(args.model, CompressionPoint(), SETTINGS)
        floors.append(baseline.measurement_floor)
        started = time.perf_counter()
        noop = measure_point(args.model, NO_OP, SETTINGS)
        rows["no-op (10% sparse)"].append((noop.energy_difference_significant, noop.energy_ratio_half_width,
                                           time.perf_counter() - started))
        rows["identical graph"].append(identical_point(args.model, Path(baseline.onnx_path), baseline.measurement_floor, home))
        print(f"run {run + 1}: floor +/-{baseline.measurement_floor:.1%}; no-op {noop.energy_ratio:.3f} "
              f"({noop.energy_ratio_ci_low:.3f}-{noop.energy_ratio_ci_high:.3f}, {noop.energy_pairs} pairs, "
              f"significant {noop.energy_difference_significant}); identical graph significant "
              f"{rows['identical graph'][-1][0]}", flush=True)
    if floors:
        summarise(args, floors, rows)
    else:
        empty_home()
    eight_bit(args)


def empty_home() -> Path:
    """A new ecocompress home: an empty store and artifact folder, as a new machine has."""
    home = Path(tempfile.mkdtemp(prefix="ecocompress-null-"))
    os.environ["ECOCOMPRESS_HOME"] = str(home)
    return home


def summarise(args: argparse.Namespace, floors: list[float], rows: dict[str, list[tuple[bool, float, float]]]) -> None:
    print(f"\n{args.model}, {args.runs} runs on empty stores, product defaults; floors: median +/-"
          f"{statistics.median(floors):.1%} (range {min(floors):.1%}-{max(floors):.1%})")
    print(f"{'point':<22} {'called significant':>18} {'median half-width':>18} {'s per point':>12}  target <= 1 in 20")
    for name, found in rows.items():
        hits = sum(s for s, _, _ in found)
        print(f"{name:<22} {hits:>8} of {len(found):<8} {statistics.median(h for _, h, _ in found):>17.1%} "
              f"{statistics.median(t for _, _, t in found):>12.1f}  {'met' if hits <= len(found) / 20 else 'MISSED'}")


def eight_bit(args: argparse.Namespace) -> None:
    """The real saving the wider protocol must still show: 8-bit, re-measured on the last run's store."""
    for run in range(args.eight_bit):
        m = measure_point(args.model, EIGHT_BIT, replace(SETTINGS, energy_budget_s=args.eight_bit_budget), fresh=True)
        ok = m.saves_energy and m.energy_ratio_half_width <= 0.10 and m.energy_seconds <= 45
        print(f"8-bit run {run + 1}: {m.energy_ratio:.3f} ({m.energy_ratio_ci_low:.3f}-{m.energy_ratio_ci_high:.3f}), "
              f"+/-{m.energy_ratio_half_width:.1%}, {m.energy_pairs} pairs kept ({m.energy_pairs_discarded} set aside) "
              f"in {m.energy_seconds:.0f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores), "
              f"saving {'significant' if m.saves_energy else 'NOT significant'}: target {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
