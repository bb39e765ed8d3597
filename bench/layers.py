"""Per-layer view of every sample model: does measured time follow the modelled energy?

For each sample model (uncompressed, batch scenario, 1 thread): every weighted layer's measured share
of onnxruntime kernel time (its profiler, 20 calls at batch 256) next to its modelled energy on a
dense CPU (Horowitz ISSCC 2014 energies: compute + weights read from DRAM + activations through SRAM)
and its MACs, and the sensitivity of accuracy to pruning / quantizing that layer alone. Prints
Spearman's rank correlation of time share with (a) the modelled energy and (b) the MACs alone.

Target (issue 19): rank correlation of time share and modelled dense-CPU energy >= 0.8, or an explanation.

    python bench/layers.py [--sparsity 0.5] [--bits 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()
    import os

    os.environ.setdefault("ECOCOMPRESS_HOME", tempfile.mkdtemp(prefix="ecocompress-bench-layers-"))
    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.records import MeasureSettings
    from ecocompress.measure.layers import rank_correlation
    from ecocompress.models.registry import SAMPLE_MODELS
    from ecocompress.service.layers import layer_view

    settings = MeasureSettings(repeats=2, energy_window_s=0.6, energy_budget_s=2.0)  # the baseline's energy is not used here
    point = CompressionPoint(sparsity=args.sparsity, bits=args.bits)
    for name in SAMPLE_MODELS:
        view = layer_view(name, point, settings)
        print(f"\n{name} (batch {view.batch}; sensitivity: only that layer pruned to {view.sparsity:.0%} / "
              f"{view.bits}-bit, no fine-tune, points of {view.quality_metric})")
        print(f"{'layer':<14} {'MACs':>10} {'params':>8} {'time share':>11} {'modelled share':>15} {'MAC share':>14} "
              f"{'prune':>7} {'quantize':>9}")
        modelled_total = sum(r.modelled_energy_pj["dense_cpu"] for r in view.rows)
        macs_total = sum(r.macs for r in view.rows)
        for r in view.rows:
            print(f"{r.name:<14} {r.macs:>10,} {r.params:>8,} {r.time_share:>11.1%} "
                  f"{r.modelled_energy_pj['dense_cpu'] / modelled_total:>15.1%} {r.macs / macs_total:>14.1%} "
                  f"{r.sensitivity_points.get('prune', float('nan')):>+7.2f} {r.sensitivity_points.get('quantize', float('nan')):>+9.2f}")
        times = [r.time_share for r in view.rows]
        print(f"rank correlation, time share vs modelled dense-CPU energy: {view.rank_correlation:+.2f}; "
              f"vs MACs alone: {rank_correlation(times, [float(r.macs) for r in view.rows]):+.2f}")


if __name__ == "__main__":
    main()
