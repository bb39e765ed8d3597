import pytest

from ecocompress.core import units


def test_si_prefixes_and_units():
    assert units.energy_wh(8.11e-5) == "81.1 µWh"
    assert units.size(619179) == "619 kB"
    assert units.latency_ms(0.0277) == "27.7 µs"
    assert units.mass_g(2.5) == "2.5 g"
    assert units.energy_wh(0) == "0 Wh"


def test_points_change_has_no_negative_zero():
    assert units.points_change(-0.0) == "+0.00 points"
    assert units.points_change(-0.001) == "+0.00 points"
    assert units.points_change(-1.234) == "-1.23 points"


def test_the_glossary_file_says_what_the_pages_say():
    from pathlib import Path

    from ecocompress.review.glossary import markdown

    assert markdown() in (Path(__file__).resolve().parent.parent / "docs" / "glossary.md").read_text()


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.00008, "0.00008"), (5.729e-05, "0.0000573"), (1.64e4, "16,400"), (999.7, "1,000"), (99.4444, "99.4"), (0.0, "0")],
)
def test_numbers_never_show_scientific_notation(value, shown):
    from ecocompress.core import units

    assert units.number(value) == shown
    assert "e" not in units.energy_wh(value).replace("Wh", "")


def test_one_energy_unit_per_view():
    from ecocompress.core import units

    assert units.energy_view([1.86e-4, 2.1e-4, 9e-5]) == (1e6, "µWh")
    assert units.energy_view([1.86e-3, 4e-3]) == (1e3, "mWh")
