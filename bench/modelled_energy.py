"""Modelled energy of digits-cnn's baseline and a 90%-sparse 4-bit point, with the arithmetic shown.

    python bench/modelled_energy.py [--model digits-cnn] [--sparsity 0.9] [--bits 4]

Both points are produced by the product (``measure_point``: fine-tuned, exported, measured, stored;
served from the store when measured before). For each hardware profile the script prints the
operation counts read from the ONNX file the product hands out, each multiplication of the
energy model (Horowitz, ISSCC 2014, 45 nm), and the total, so a reviewer can redo it by hand;
then the modelled ratios next to the *measured* ones on this CPU, which is why the two differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.service.api import measure_point  # noqa: E402
from ecocompress.measure.energy_model import PROFILES, EnergyTable, modelled_energy  # noqa: E402
from ecocompress.measure.opcounts import count_operations  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()
    table = EnergyTable()
    print(f"energy table (pJ): {table}")
    points = {"baseline": CompressionPoint(), "compressed": CompressionPoint(sparsity=args.sparsity, bits=args.bits)}
    measured = {name: measure_point(args.model, p) for name, p in points.items()}
    totals: dict[str, dict[str, float]] = {}
    for name, m in measured.items():
        counts = count_operations(m.onnx_path)
        print(f"\n## {args.model}: {m.label} (stored at {m.bits} bits, runs as {m.runtime_format})")
        print(f"file {Path(m.onnx_path).name}: {counts.macs:,} MACs ({counts.nonzero_macs:,} with a non-zero weight), "
              f"{counts.weights:,} weights ({counts.nonzero_weights:,} non-zero), {counts.activation_elements:,} "
              "activation elements read + written")
        for layer in counts.layers:
            print(f"  {layer.name:<16} {layer.op_type:<6} {layer.weight_dtype:<8} MACs {layer.macs:>10,} "
                  f"(non-zero {layer.nonzero_macs:>10,})  weights {layer.weights:>8,} (non-zero {layer.nonzero_weights:>8,})  "
                  f"activations in {layer.input_elements:,} out {layer.output_elements:,}")
        for key in PROFILES:
            result = modelled_energy(counts, m.bits, key, table)
            totals.setdefault(key, {})[name] = result.total_pj
            print(f"\n  [{key}]")
            for line in result.lines[2:]:
                print(f"    {line}")
    print(f"\n## {measured['compressed'].label} vs baseline")
    print(f"{'profile':<48} {'baseline pJ':>14} {'compressed pJ':>14} {'ratio':>7}")
    for key, values in totals.items():
        print(f"{PROFILES[key].name:<48} {values['baseline']:>14,.0f} {values['compressed']:>14,.0f} "
              f"{values['compressed'] / values['baseline']:>6.3f}x")
    m = measured["compressed"]
    print(f"{'measured on this CPU (CodeCarbon, batch 256)':<48} {'':>14} {'':>14} {m.energy_ratio:>6.3f}x")
    print(f"\nmeasured: {m.energy_method}. A dense CPU kernel multiplies every weight, zeros included, and has no "
          "4-bit arithmetic, so only the sparse low-bit profile can turn sparsity and bit-width into energy.")


if __name__ == "__main__":
    main()
