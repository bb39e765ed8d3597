"""Human-readable numbers with their units, shared by the CLI, the pages and reports."""

from __future__ import annotations

import math
import re


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits in plain decimals, never scientific notation:
    ``0.00008``, ``1,640``, ``99.4``. The one number formatter every other function here uses."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{round(value, decimals):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def si(value: float, unit: str, digits: int = 3) -> str:
    """``value`` with an SI prefix chosen so the mantissa is in [1, 1000), e.g. ``81.1 µWh``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    prefixes = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")]
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{number(value / scale, digits)} {prefix}{unit}"
    return f"{number(value / 1e-9, digits)} n{unit}"


ENERGY_VIEW_UNITS = ((1e-3, 1e6, "µWh"), (1.0, 1e3, "mWh"), (math.inf, 1.0, "Wh"))


def energy_view(values_wh) -> tuple[float, str]:
    """One energy unit for a whole view (chart, table): (factor from Wh, unit), chosen by the median value,
    so every figure in it reads in the same unit ('186 µWh', never '0.1855 mWh' beside it)."""
    finite = sorted(abs(float(v)) for v in values_wh if v is not None and math.isfinite(float(v)))
    middle = finite[len(finite) // 2] if finite else 0.0
    return next((factor, unit) for limit, factor, unit in ENERGY_VIEW_UNITS if middle < limit)


def si_view(values, unit: str) -> tuple[float, str]:
    """One SI-prefixed unit for a whole table column: (factor from ``unit``, prefixed unit), the prefix ``si``
    gives the column's median, so a CSV column reads in the unit the pages show ('µs', 'µg')."""
    finite = sorted(abs(float(v)) for v in values if v is not None and math.isfinite(float(v)))
    middle = finite[len(finite) // 2] if finite else 0.0
    prefix = si(middle, unit).split(" ")[-1][: -len(unit)] if middle else ""
    return {"G": 1e-9, "M": 1e-6, "k": 1e-3, "": 1.0, "m": 1e3, "µ": 1e6, "n": 1e9}[prefix], prefix + unit


def size(n_bytes: float) -> str:
    """Bytes in decimal units (kB = 1,000 bytes), as file managers on most systems show them."""
    return si(float(n_bytes), "B")


def energy_wh(wh: float) -> str:
    return si(wh, "Wh")


def mass_g(grams: float) -> str:
    return si(grams, "g")


def volume_l(litres: float) -> str:
    """Water: '540 L', '1.2 kL', '3.4 ML'."""
    return si(litres, "L")


def duration(seconds: float) -> str:
    """'45 seconds', '3 minutes', '5.2 hours', '12 days', '3.4 years': the unit a person reads."""
    minutes, days = seconds / 60, seconds / 86_400
    if minutes < 1:
        return f"{number(seconds, 2)} seconds"
    if minutes < 60:
        return f"{number(minutes, 2)} minutes"
    if days < 1:
        return f"{number(minutes / 60, 2)} hours"
    if days < 365:
        return f"{number(days, 2)} days"
    return f"{number(days / 365, 2)} years"


def latency_ms(ms: float) -> str:
    return si(ms / 1000.0, "s")


def percent(fraction: float, digits: int = 2) -> str:
    return f"{fraction * 100:.{digits}f}%"


def points(budget: float) -> str:
    """An accuracy budget in words: '1 point', '0.5 points', '2 points'."""
    return f"{number(budget)} point{'' if budget == 1 else 's'}"


def ratio(value: float) -> str:
    """A ratio to three significant digits, '0.417x', '1.05x', '36.9x' (never '36.90x')."""
    return f"{number(value, 3)}x"


def points_change(points: float) -> str:
    """A signed change in percentage points, without a confusing ``-0.00``."""
    rounded = round(points, 2)
    return f"{rounded + 0.0:+.2f} points"


def energy_kwh(kwh: float) -> str:
    """Yearly energy: kWh given, shown with the prefix that reads best ('940 kWh', '9.4 MWh', '25 Wh')."""
    return si(kwh * 1000.0, "Wh")


def co2e_kg(kg: float) -> str:
    """A mass of CO2e: grams below 1 kg, tonnes from 1,000 kg."""
    if abs(kg) >= 1000:
        return f"{number(kg / 1000)} t CO2e"
    if abs(kg) >= 1:
        return f"{number(kg)} kg CO2e"
    return f"{number(kg * 1000)} g CO2e"


def money(value: float, currency: str) -> str:
    """Whole units for large sums, three significant digits for small ones (never '0.00')."""
    if abs(value) >= 100:
        return f"{value:,.0f} {currency}"
    return f"{number(value)} {currency}"


def slug(text: str) -> str:
    """Lower-case letters, digits and dashes: a safe file-name part made from a label or a user's file name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def change_with_interval(ratio: float, low: float, high: float, what: str = "energy") -> str:
    """A ratio to the baseline in words with its 95% interval, e.g. '58% less energy (95%: 55-61% less)'.

    When the interval contains 1 there is no saving to report: 'no measurable energy difference (95%: -3% to +4%)'.
    """
    if low <= 1.0 <= high:
        return f"no measurable {what} difference (95%: {(low - 1) * 100:+.0f}% to {(high - 1) * 100:+.0f}%)"
    if high < 1.0:
        return f"{(1 - ratio) * 100:.0f}% less {what} (95%: {(1 - high) * 100:.0f}-{(1 - low) * 100:.0f}% less)"
    return f"{(ratio - 1) * 100:.0f}% more {what} (95%: {(low - 1) * 100:.0f}-{(high - 1) * 100:.0f}% more)"


def signed_interval(ratio: float, low: float, high: float, what: str = "energy") -> str:
    """A ratio as a card's signed change with its interval, '-58% energy (95%: -61% to -55%)', or
    'no measurable energy difference' when the interval contains 1."""
    if low <= 1.0 <= high:
        return f"no measurable {what} difference"
    return f"{(ratio - 1) * 100:+.0f}% {what} (95%: {(low - 1) * 100:+.0f}% to {(high - 1) * 100:+.0f}%)"


def energy_basis(estimated: bool) -> str:
    """The one word that says how an energy figure was obtained, from the method CodeCarbon used."""
    return "estimated" if estimated else "measured"


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")


def escape_markdown(text: str) -> str:
    """``text`` shown literally where a page renders Markdown: a user's file name such as
    ``![t](https://example.invalid/?x).csv`` stays text and is never turned into an image or a link."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def clipped(text: object, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis saying so: what a message quotes from a user's file (a
    column name, a value, a node name) never turns a sentence into megabytes (a 10 MB CSV header)."""
    text = str(text)
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def clipped_list(items, *, most: int, each: int, separator: str = ", ") -> str:
    """The first ``most`` of ``items``, each ``clipped`` to ``each`` characters, and "..." when there were more:
    a message lists a few of a file's names (columns, arrays, inputs), never all of them."""
    items = list(items)
    shown = separator.join(clipped(item, each) for item in items[:most])
    return shown + (f"{separator}..." if len(items) > most else "")
