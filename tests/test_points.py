import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.knobs import BITS, STUDENT
from ecocompress.core.points import CompressionPoint


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sparsity": 1.5}, "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.5 instead."),
        ({"sparsity": -0.1}, "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got -0.1 instead."),
        ({"sparsity": 1.0}, "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.0 instead."),
        ({"sparsity": math.nan}, "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got nan instead."),
        ({"sparsity": "0.5"}, "The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got '0.5' instead."),
        ({"bits": 0}, "The 'bits' parameter must be an int among {2, 3, 4, 5, 6, 7, 8, 16, 32}. Got 0 instead."),
        ({"bits": 9}, "The 'bits' parameter must be an int among {2, 3, 4, 5, 6, 7, 8, 16, 32}. Got 9 instead."),
        ({"bits": True}, "The 'bits' parameter must be an int among {2, 3, 4, 5, 6, 7, 8, 16, 32}. Got True instead."),
        ({"student_width": 0.3}, "The 'student_width' parameter must be one of {1.0, 0.5, 0.25, 0.125}. Got 0.3 instead."),
        ({"rank_ratio": 0.0}, "The 'rank_ratio' parameter must be None or a float in the range (0.0, 1.0]. Got 0.0 instead."),
        ({"structured": 1}, "The 'structured' parameter must be a bool. Got 1 instead."),
        ({"fine_tuned": 0}, "The 'fine_tuned' parameter must be a bool. Got 0 instead."),
    ],
)
def test_invalid_values_name_parameter_range_and_value(kwargs, message):
    with pytest.raises(InvalidParameterError) as info:
        CompressionPoint(**kwargs)
    assert str(info.value) == message


def test_invalid_parameter_is_a_value_error():
    with pytest.raises(ValueError):
        CompressionPoint(bits=1)


def test_point_is_frozen_and_normalised():
    point = CompressionPoint(sparsity=0, bits=8.0, student_width=1)
    assert point.sparsity == 0.0 and isinstance(point.sparsity, float)
    assert point.bits == 8 and isinstance(point.bits, int)
    with pytest.raises(AttributeError):
        point.bits = 4  # type: ignore[misc]


def test_baseline_and_labels():
    assert CompressionPoint().is_baseline
    assert CompressionPoint().label() == "fp32 baseline"
    assert not CompressionPoint(bits=8).is_baseline
    assert CompressionPoint(bits=8).label() == "8-bit"
    assert CompressionPoint(sparsity=0.9, bits=4, student_width=0.5).label() == "student x0.5, 90% sparse, 4-bit"
    assert CompressionPoint(rank_ratio=1.0) == CompressionPoint()  # full rank is no factorisation


@given(
    sparsity=st.floats(min_value=0.0, max_value=0.999, allow_nan=False),
    bits=st.sampled_from(BITS.among),
    width=st.sampled_from(STUDENT.among),
    structured=st.booleans(),
    rank=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0)),
)
def test_key_round_trips(sparsity, bits, width, structured, rank):
    point = CompressionPoint(sparsity=sparsity, bits=bits, student_width=width, structured=structured, rank_ratio=rank)
    import json

    assert CompressionPoint.from_dict(json.loads(point.key())) == point
    assert hash(point) == hash(CompressionPoint.from_dict(point.to_dict()))
    assert CompressionPoint.from_dict(json.loads(point.quick.key())) == point.quick


def test_the_quick_version_skips_fine_tuning_and_keeps_stored_keys():
    point = CompressionPoint(sparsity=0.5, bits=4)
    assert point.key() == '{"bits": 4, "rank_ratio": null, "sparsity": 0.5, "structured": false, "student_width": 1.0}'
    assert point.quick != point and not point.quick.fine_tuned and '"fine_tuned": false' in point.quick.key()
    assert point.quick.label() == "50% sparse, 4-bit, before fine-tuning"
    assert CompressionPoint(student_width=0.5).quick.label() == "student x0.5, after one short training epoch"
    for nothing_trains in (CompressionPoint(), CompressionPoint(bits=8), CompressionPoint(bits=16)):
        assert nothing_trains.quick == nothing_trains  # post-training already: the quick version is the point
