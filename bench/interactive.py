"""Time from a slider change to the updated chart on Explore (AppTest-driven), for digits-cnn.

    python bench/interactive.py [--new-runs 3] [--cached-runs 10]

"New point" = 8-bit at 50% sparsity on a fresh results store (the baseline is measured first,
outside the timing, as it would already be on a running server): the run includes pruning,
fine-tuning, quantization, export, the runtime choice and the CodeCarbon windows. "Cached
point" = moving back to a point measured before. Targets: cached < 0.3 s, new < 15 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))


def timed_run(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception or at.error:
        raise SystemExit(f"page failed: {at.exception or [e.value for e in at.error]}")
    if not at.get("plotly_chart"):
        raise SystemExit("no chart rendered")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-runs", type=int, default=3)
    parser.add_argument("--cached-runs", type=int, default=10)
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    new_times, cached_times = [], []
    for run in range(args.new_runs):
        with tempfile.TemporaryDirectory() as home:
            os.environ["ECOCOMPRESS_HOME"] = home
            from ecocompress.service.api import measure_point
            from ecocompress.core.points import CompressionPoint

            measure_point("digits-cnn", CompressionPoint())  # the baseline a running server already has
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.run()
            at.switch_page("pages/views/explore.py")
            timed_run(at)  # baseline, cached
            at.slider(key="sparsity").set_value(0.5)
            at.select_slider(key="bits").set_value(8)
            new_times.append(timed_run(at))
            label = at.subheader[0].value
            for _ in range(args.cached_runs if run == 0 else 0):
                at.slider(key="sparsity").set_value(0.0)
                at.select_slider(key="bits").set_value(32)
                cached_times.append(timed_run(at))
                at.slider(key="sparsity").set_value(0.5)
                at.select_slider(key="bits").set_value(8)
                cached_times.append(timed_run(at))
            print(f"new point run {run + 1}: {new_times[-1]:.1f} s ({label})", flush=True)

    print("\ndigits-cnn, Explore page, AppTest (server-side time from slider change to rendered chart)")
    print(f"{'case':<34} {'runs':>5} {'median s':>9} {'min s':>7} {'max s':>7} {'target':>8}")
    for name, times, target in (
        ("cached point", cached_times, 0.3),
        ("new point (8-bit, 50% sparsity)", new_times, 15.0),
    ):
        med = statistics.median(times)
        print(f"{name:<34} {len(times):>5} {med:>9.3f} {min(times):>7.3f} {max(times):>7.3f} "
              f"{'<' + str(target) + ' s':>8} {'met' if med < target else 'MISSED'}")


if __name__ == "__main__":
    main()
