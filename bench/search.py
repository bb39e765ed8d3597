"""How many search trials find a near-best point, and what a second local worker buys, in one run.

    python bench/search.py [--model digits-cnn] [--seeds 3] [--worker-trials 8] [--repeats 3]

1. The full grid of the search space used here (sparsity x bits x student) is measured once with
   the product (``measure_point``; served from the store when measured before), then every grid
   artifact is metered again side by side, interleaved, so the energies compared are fair.
2. The grid's best point: lowest energy within 1 point of the baseline's accuracy. A search
   "finds" it when its best in-budget point so far is within 1 point of accuracy and within 10%
   of that energy. Searches (fresh studies, several seeds) over the same space reuse the stored
   points; the script reports after how many trials each found it.
3. Wall time of ``ecocompress search`` with 1 and then 2 local workers, each from an empty
   results store (everything trained and measured anew), same trials and seed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.service.api import measure_point  # noqa: E402
from ecocompress.models.registry import get_model  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.service.search import point_from_params, run_search  # noqa: E402
from sidebyside import side_by_side  # noqa: E402

SPACE = {
    "sparsity": [0.0, 0.5, 0.8, 0.9],
    "bits": [32, 8, 4],
    "student_width": [1.0, 0.5],
    "structured": [False],
    "rank_ratio": [1.0],
}
BUDGET_POINTS = 1.0
ENERGY_SLACK = 1.10


def grid_points() -> list[CompressionPoint]:
    names = list(SPACE)
    return [point_from_params(dict(zip(names, values))) for values in itertools.product(*SPACE.values())]


def measure_grid(model: str, repeats: int) -> dict[str, tuple[float, float]]:
    """label -> (accuracy drop in points, side-by-side energy in Wh per 1,000)."""
    started = time.perf_counter()
    measured = {p.label(): measure_point(model, p) for p in grid_points()}
    print(f"grid: {len(measured)} points measured or served from the store in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    timings = side_by_side({k: Path(m.onnx_path) for k, m in measured.items()}, get_model(model).dataset().x_test,
                           repeats=repeats)
    return {k: (m.accuracy_drop_points, timings[k].median("wh_per_1k")) for k, m in measured.items()}


def trials_to_find(model: str, grid: dict[str, tuple[float, float]], target: float, seed: int, limit: int) -> int | None:
    """Trials a fresh study needs before its best in-budget point is within ``target`` energy."""
    found: list[int] = []
    best = [float("inf")]

    def progress(done: int, _total: int, label: str) -> None:
        drop, energy = grid.get(label, (float("inf"), float("inf")))
        if drop <= BUDGET_POINTS + 1e-9:
            best[0] = min(best[0], energy)
        if best[0] <= target and not found:
            found.append(done)

    with tempfile.TemporaryDirectory() as tmp:
        run_search(model, trials=limit, seed=seed, space=SPACE, storage_url=f"sqlite:///{tmp}/study.db",
                   study_name=f"bench-{seed}", progress=progress, should_stop=lambda: bool(found))
    return found[0] if found else None


def timed_search(model: str, workers: int, trials: int, repeats: int) -> float:
    """Wall time of the CLI search from an empty store (fresh ECOCOMPRESS_HOME)."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ECOCOMPRESS_HOME": home}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ecocompress.cli", "search", "--model", model, "--trials", str(trials),
             "--workers", str(workers), "--repeats", str(repeats), "--seed", "0", "--json"],
            env=env, check=True, capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--worker-trials", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    grid = measure_grid(args.model, args.repeats)
    eligible = {k: e for k, (drop, e) in grid.items() if drop <= BUDGET_POINTS + 1e-9}
    best_label = min(eligible, key=eligible.get)
    target = eligible[best_label] * ENERGY_SLACK
    print(f"\n## {args.model}: search vs full grid ({len(grid)} points, energies side by side, {args.repeats} repeats)")
    print(f"grid best within {BUDGET_POINTS:g} point: {best_label} at {eligible[best_label] * 1e6:.1f} µWh per 1,000; "
          f"{sum(e <= target for e in eligible.values())} grid points are within 1 point and 10% of it")
    needed = []
    for seed in range(args.seeds):
        n = trials_to_find(args.model, grid, target, seed, limit=len(grid))
        needed.append(n if n is not None else len(grid) + 1)
        print(f"  seed {seed}: {'found after ' + str(n) + ' trials' if n else 'not found within ' + str(len(grid)) + ' trials'}")
    hits = sum(e <= target for e in eligible.values())
    print(f"trials needed: median {statistics.median(needed):g} of {len(grid)} grid points "
          f"({statistics.median(needed) / len(grid):.0%} of the grid); drawing grid points at random without "
          f"replacement would need {(len(grid) + 1) / (hits + 1):.1f} on average")
    one = timed_search(args.model, 1, args.worker_trials, args.repeats)
    two = timed_search(args.model, 2, args.worker_trials, args.repeats)
    print(f"\n## wall time of {args.worker_trials} trials from an empty store (`ecocompress search`, seed 0)")
    print(f"1 worker: {one:.0f} s   2 workers: {two:.0f} s   speed-up {one / two:.2f}x "
          f"(training runs in parallel; timing and energy windows take turns, machine-wide lock)")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
