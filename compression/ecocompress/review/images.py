"""Static chart images (PNG) for the offline report, drawn with matplotlib.

The dashboard's charts are plotly; a report must open offline and print, so it embeds images.
plotly's own image export needs a browser (Kaleido + Chrome), matplotlib does not.
"""

from __future__ import annotations

import io
from typing import Any

from ecocompress.core import units
from ecocompress.review.plots import OKABE_ITO, tradeoff_info
from ecocompress.review.tables import Records
from ecocompress.review.projection import RegionFootprint

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

def tradeoff_png(records: Records, x_axis: str, x_title: str, chosen_label: str | None) -> bytes:
    """Accuracy versus cost: every point, the Pareto front, the baseline and the chosen point (``tradeoff_info``'s split).

    ``x_title`` names the unit with a ``{prefix}`` placeholder, e.g. 'Energy per 1,000 inferences ({prefix}Wh)'.
    """
    info = tradeoff_info(records, x_axis, chosen_label)
    x = info.x_column
    factor, prefix = _readable_scale(float(info.points[x].max()))
    fig, ax = _figure()
    if info.x_interval:  # the 95% interval of every point's x, as on the dashboard's charts
        low, high = (info.points[c] * factor for c in info.x_interval)
        value = info.points[x] * factor
        ax.errorbar(value, info.points["accuracy_pct"], xerr=[(value - low).clip(lower=0), (high - value).clip(lower=0)],
                    fmt="none", ecolor=OKABE_ITO["blue"], elinewidth=1, capsize=3, label="95% interval", zorder=2)
    ax.scatter(info.points[x] * factor, info.points["accuracy_pct"], s=28, color=OKABE_ITO["sky"],
               edgecolor=OKABE_ITO["blue"], label="measured points", zorder=2)
    ax.step(info.front[x] * factor, info.front["accuracy_pct"], where="post", color=OKABE_ITO["blue"], lw=2,
            label="Pareto front", zorder=1)
    ax.scatter(info.baseline[x] * factor, info.baseline["accuracy_pct"], s=90, marker="D", color=OKABE_ITO["black"],
               label="uncompressed baseline", zorder=3)
    if chosen_label:
        ax.scatter(info.current[x] * factor, info.current["accuracy_pct"], s=220, marker="*", color=OKABE_ITO["vermillion"],
                   edgecolor="black", label=f"chosen: {chosen_label}", zorder=4)
    ax.set_xlabel(x_title.format(prefix=prefix))
    ax.set_ylabel(info.y_title)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize=8, frameon=False)  # below: covers no point
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


def flipped_images(x_test, changes, limit: int = 12) -> list[tuple[Any, str]]:
    """The flipped test examples as grey images in [0, 1] with 'is 7, was 7, now 2' captions; empty when the
    inputs are not single-channel images (a table of the flips says the same then)."""
    import numpy as np

    if x_test.ndim != 4 or x_test.shape[1] != 1:
        return []
    shown = []
    for flip in changes.flipped[:limit]:
        image = np.asarray(x_test[flip.index, 0], dtype=np.float64)
        span = image.max() - image.min()
        shown.append(((image - image.min()) / span if span > 0 else np.zeros_like(image),
                      f"is {flip.label}, was {flip.baseline_prediction}, now {flip.point_prediction}"))
    return shown


def flips_png(images: list[tuple[Any, str]]) -> bytes:
    """A row of flipped examples with their captions, small, for the report."""
    fig, axes = _figure(width=1.1 * len(images), height=1.4)
    fig.clf()
    for i, (image, caption) in enumerate(images):
        ax = fig.add_subplot(1, len(images), i + 1)
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_title(caption.replace(", ", "\n", 1), fontsize=6)
        ax.axis("off")
    return _png(fig)
