"""Time from a slider change to what Explore shows, on every sample model (AppTest-driven, real measurements).

    python bench/interactive.py [--models digits-cnn mnist-lenet300 mnist-lenet5] [--new-runs 3] [--cached-runs 5]

For each model, on a fresh results store whose baseline is already measured (outside the timing, as it
would be on a running server), the Explore page is opened and the knobs moved to a new setting that
prunes and trains (50% sparse, 6-bit: pruning, then quantization-aware fine-tuning). Three times are taken:

- first answer: slider change -> the job's quick post-training version ("before fine-tuning", two energy
  pairs) is in the store, where the page picks it up (the page runs in a thread; the debounce is included);
- final answer: slider change -> the fine-tuned point's cards and chart are rendered;
- cached: moving back to a point measured before.

Targets (issue 18): cached < 0.3 s; first answer <= 15 s and final <= 60 s median, on every model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))
sys.path.insert(0, str(ROOT))

MODELS = ("digits-cnn", "mnist-lenet300", "mnist-lenet5")
SPARSITY, BITS = 0.5, 6
TARGETS = {"cached": 0.3, "first answer": 15.0, "final answer": 60.0}


def _checked(at) -> None:
    if at.exception or at.error:
        raise SystemExit(f"page failed: {at.exception or [e.value for e in at.error]}")
    if not at.get("plotly_chart"):
        raise SystemExit("no chart rendered")


def _timed(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    _checked(at)
    return elapsed


def _move(at, sparsity: float, bits: int) -> None:
    at.slider(key="sparsity").set_value(sparsity)
    at.select_slider(key="bits").set_value(bits)


def one_run(model: str, cached_runs: int) -> tuple[float, float, list[float], str]:
    """(first answer s, final answer s, cached times, label) for ``model`` on a fresh store."""
    from streamlit.testing.v1 import AppTest

    from ecocompress.core.points import CompressionPoint
    from ecocompress.service.api import lookup, measure_point, quick_version

    measure_point(model, CompressionPoint())  # the baseline a running server already has
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()
    at.switch_page("pages/views/explore.py")
    at.run()
    at.selectbox(key="model").set_value(model)
    _timed(at)  # the baseline, from the store
    _move(at, SPARSITY, BITS)
    quick = quick_version(model, CompressionPoint(sparsity=SPARSITY, bits=BITS))  # the sidebar's defaults
    started = time.perf_counter()
    page = threading.Thread(target=at.run)
    page.start()
    first = None
    while page.is_alive():  # the page shows the first answer once it is in the store (it polls every 0.25 s)
        if first is None and lookup(model, *quick) is not None:
            first = time.perf_counter() - started
        time.sleep(0.05)
    final = time.perf_counter() - started
    _checked(at)
    if first is None:
        raise SystemExit("the first answer never reached the store")
    label = at.subheader[0].value
    cached = []
    for _ in range(cached_runs):
        _move(at, 0.0, 32)
        cached.append(_timed(at))
        _move(at, SPARSITY, BITS)
        cached.append(_timed(at))
    return first, final, cached, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--new-runs", type=int, default=3)
    parser.add_argument("--cached-runs", type=int, default=5)
    args = parser.parse_args()

    rows = []
    for model in args.models:
        firsts, finals, cached = [], [], []
        for run in range(args.new_runs):
            with tempfile.TemporaryDirectory() as home:
                os.environ["ECOCOMPRESS_HOME"] = home
                first, final, times, label = one_run(model, args.cached_runs if run == 0 else 0)
            firsts.append(first)
            finals.append(final)
            cached += times
            print(f"{model} run {run + 1}: first answer {first:.1f} s, final {final:.1f} s ({label})", flush=True)
        rows += [(model, "cached", cached), (model, "first answer", firsts), (model, "final answer", finals)]

    print(f"\nExplore page, AppTest, {SPARSITY:.0%} sparse + {BITS}-bit on a fresh store (server-side time from the "
          "slider change; debounce included)")
    print(f"{'model':<16} {'case':<14} {'runs':>5} {'median s':>9} {'min s':>7} {'max s':>7} {'target':>9}")
    for model, case, times in rows:
        med = statistics.median(times)
        target = TARGETS[case]
        print(f"{model:<16} {case:<14} {len(times):>5} {med:>9.2f} {min(times):>7.2f} {max(times):>7.2f} "
              f"{'<= ' + format(target, 'g') + ' s':>9} {'met' if med <= target else 'MISSED'}")


if __name__ == "__main__":
    main()
