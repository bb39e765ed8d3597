"""Each knob is declared once (``core.knobs``) and every place that offers or checks knobs reads that declaration."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from ecocompress.cli import build_parser
from ecocompress.compressor.onnx_pipeline import check_point as onnx_check
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.knobs import KNOBS, RANK, SPARSITY, refuse_unoffered, set_knobs
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import Measurement
from ecocompress.service.search import SPACE, STARTING_POINTS, point_from_params
from ecocompress.service.sweep import grid


def test_every_knob_has_its_typed_field_on_the_point_and_the_record():
    """The declaration's one companion: a field on ``CompressionPoint`` (defaulting to the knob's off value) and
    on ``Measurement`` (with a default when it came after the first records: stored records lack it)."""
    point_fields = {f.name: f for f in dataclasses.fields(CompressionPoint)}
    record_fields = {f.name for f in dataclasses.fields(Measurement)}
    for knob in KNOBS:
        assert knob.field in point_fields and knob.field in record_fields, knob.field
        assert point_fields[knob.field].default == knob.off
    assert CompressionPoint().is_baseline and set_knobs(CompressionPoint()) == []


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.name)
def test_a_knob_accepts_what_it_offers_and_refuses_the_rest_in_the_template(knob):
    for value in knob.values:
        point = CompressionPoint(**{knob.field: value})
        assert getattr(point, knob.field) == knob.checked(value)
        assert point.is_baseline == (not knob.is_set(knob.checked(value)))
        if knob.is_set(knob.checked(value)):
            assert knob.phrase(getattr(point, knob.field), point) in point.label()
    for bad in (-1, 1.5, 33, float("nan"), "0.5", True):
        with pytest.raises(InvalidParameterError) as info:
            CompressionPoint(**{knob.field: bad})
        assert str(info.value) == f"The {knob.field!r} parameter must be {knob.allowed}. Got {bad!r} instead."


def test_the_allowed_words_are_derived_from_the_constraint():
    assert {k.name: k.allowed for k in KNOBS if k.name in ("student", "sparsity", "rank", "bits")} == {
        "student": "one of {1.0, 0.5, 0.25, 0.125}",
        "sparsity": "a float in the range [0.0, 1.0)",
        "rank": "None or a float in the range (0.0, 1.0]",
        "bits": "an int among {2, 3, 4, 5, 6, 7, 8, 16, 32}",
    }


def test_a_label_reads_the_knobs_in_pipeline_order():
    point = CompressionPoint(sparsity=0.5, structured=True, bits=8, student_width=0.5, rank_ratio=0.25)
    assert point.label() == "student x0.5, 50% structured sparse, rank 0.25, 8-bit"


def test_the_cli_has_one_flag_per_knob_with_its_declared_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("run", "sweep"):
        flags = {a.dest: a for a in commands[command]._actions}
        for knob in KNOBS:
            assert knob.name in flags, (command, knob.name)
            assert knob.label.replace("%", "%%") in flags[knob.name].help
    args = commands["run"].parse_args(["--model", "digits-cnn", "--rank", "0.5", "--bits", "8"])
    from ecocompress.cli.arguments import flag_point

    assert flag_point(args) == CompressionPoint(rank_ratio=0.5, bits=8)


def test_a_sweep_and_a_search_cover_every_knob():
    assert set(SPACE) == {k.field for k in KNOBS} | {"structured"}
    assert all(SPACE[k.field] == list(k.searched) and k.default in k.searched for k in KNOBS)
    assert [point_from_params(p).label() for p in STARTING_POINTS] == [
        "8-bit", "50% structured sparse, 8-bit", "90% sparse, 4-bit", "student x0.5, 8-bit"]
    values = {k.field: [k.default, k.example] for k in KNOBS}
    assert len(grid(values)) == 2 ** len(KNOBS)


def test_a_pipeline_refuses_a_knob_it_does_not_offer_by_its_declaration():
    """A knob added later is refused by the pipelines that do not know it, in their own words."""
    point = SimpleNamespace(**{k.field: k.off for k in KNOBS})
    refuse_unoffered(point, set(), lambda knob: "unreachable")  # nothing set: nothing refused
    point.rank_ratio = 0.5
    with pytest.raises(InvalidParameterError, match="^Low-rank factorisation is not here$"):
        refuse_unoffered(point, {SPARSITY.field}, lambda knob: f"{knob.technique} is not here")
    refuse_unoffered(point, {RANK.field}, lambda knob: "unreachable")
    with pytest.raises(InvalidParameterError, match="^Low-rank factorisation needs the model's training code"):
        onnx_check(CompressionPoint(rank_ratio=0.5))
    onnx_check(CompressionPoint(rank_ratio=0.5, student_width=0.5))  # a student is trained here: it can be factorised
    onnx_check(CompressionPoint(sparsity=0.5, bits=4))
