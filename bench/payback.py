"""What compressing costs and when it pays back: fine-tuned points measured with the product's defaults.

    python bench/payback.py [--model digits-cnn] [--per-day 1000000]

On an empty store, each point is built (distillation or pruning with fine-tuning) inside a CodeCarbon tracker
and measured against the baseline in paired windows; printed per point: the build's and the measurement's
energy, the energy ratio with its interval, and the payback in inferences and days at ``--per-day``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core import units  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402
from ecocompress.review.projection import Scale, payback  # noqa: E402
from ecocompress.service.api import measure_point  # noqa: E402

POINTS = (CompressionPoint(student_width=0.25), CompressionPoint(sparsity=0.5, structured=True), CompressionPoint(bits=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--per-day", type=float, default=1_000_000)
    args = parser.parse_args()
    os.environ["ECOCOMPRESS_HOME"] = tempfile.mkdtemp(prefix="ecocompress-payback-")
    scale = Scale(inferences_per_day=args.per_day)
    for point in POINTS:
        m = measure_point(args.model, point, MeasureSettings())
        found = payback(m.to_dict(), scale)
        print(f"{m.label:<28} build {units.energy_wh(m.build_energy_wh or 0):>9}, measuring "
              f"{units.energy_wh(m.measuring_energy_wh or 0):>9}; energy {m.energy_ratio:.2f}x "
              f"({m.energy_ratio_ci_low:.2f}-{m.energy_ratio_ci_high:.2f}); "
              + (f"pays back after {found.inferences[0]:,.0f} inferences ({found.days[0] * 24:.1f} h at "
                 f"{args.per_day:,.0f}/day)" if found.inferences else "never pays back (no measurable saving)"),
              flush=True)


if __name__ == "__main__":
    main()
