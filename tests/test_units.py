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
