"""Static chart images (PNG) for the offline report, drawn with matplotlib.

The dashboard's charts are plotly; a report must open offline and print, so it embeds images.
plotly's own image export needs a browser (Kaleido + Chrome), matplotlib does not.
"""

from __future__ import annotations

import io

import pandas as pd

from compression import units
from compression.pareto import pareto_mask
from compression.plots import OKABE_ITO, quality_title
from compression.projection import RegionFootprint


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _figure(width: float = 7.5, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg", force=False)  # no screen on servers; never opens a window
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _readable_scale(largest: float) -> tuple[float, str]:
    """Factor and prefix so axis numbers read like '25.8' rather than '2.58e-5' ('µ' for micro)."""
    for factor, prefix in ((1.0, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n")):
        if largest * factor >= 1:
            return factor, prefix
    return 1e9, "n"


def tradeoff_png(records: list[dict], x_column: str, x_title: str, chosen_label: str | None) -> bytes:
    """Accuracy versus cost: every point, the Pareto front, the baseline and the chosen point.

    ``x_title`` names the unit with a ``{prefix}`` placeholder, e.g. 'Energy per 1,000 inferences ({prefix}Wh)'.
    """
    frame = pd.DataFrame.from_records(records).assign(accuracy_pct=lambda f: f["accuracy"] * 100.0)
    factor, prefix = _readable_scale(float(frame[x_column].max()))
    frame[x_column] = frame[x_column] * factor
    x_title = x_title.format(prefix=prefix)
    fig, ax = _figure()
    ax.scatter(frame[x_column], frame["accuracy_pct"], s=28, color=OKABE_ITO["sky"], edgecolor=OKABE_ITO["blue"],
               label="measured points", zorder=2)
    front = frame[pareto_mask(frame["accuracy"], frame[x_column])].sort_values(x_column)
    ax.step(front[x_column], front["accuracy_pct"], where="post", color=OKABE_ITO["blue"], lw=2, label="Pareto front",
            zorder=1)
    base = frame[frame["label"] == "fp32 baseline"]
    ax.scatter(base[x_column], base["accuracy_pct"], s=90, marker="D", color=OKABE_ITO["black"],
               label="uncompressed baseline", zorder=3)
    if chosen_label:
        chosen = frame[frame["label"] == chosen_label]
        ax.scatter(chosen[x_column], chosen["accuracy_pct"], s=220, marker="*", color=OKABE_ITO["vermillion"],
                   edgecolor="black", label=f"chosen: {chosen_label}", zorder=4)
    ax.set_xlabel(x_title)
    ax.set_ylabel(quality_title(records))
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def regions_png(regions: list[RegionFootprint], label: str) -> bytes:
    """Annual kg CO2e of one point on several grids (horizontal bars, lowest first)."""
    fig, ax = _figure(height=0.45 * len(regions) + 1.2)
    names = [f"{r.country_name} ({r.year})" for r in regions]
    values = [r.kg_co2e_per_year for r in regions]
    ax.barh(names, values, color=OKABE_ITO["green"])
    for y, (value, region) in enumerate(zip(values, regions)):
        ax.text(value, y, f"  {units.co2e_kg(value)}  ({region.carbon_intensity_g_per_kwh:.0f} g/kWh)", va="center", fontsize=8)
    ax.set_xlabel(f"kg CO2e per year ({label})")
    ax.set_xlim(0, max(values) * 1.45 if values and max(values) > 0 else 1)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
