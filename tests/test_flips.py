"""Prediction flips between a baseline and a point, by hand (a measured point's flips: tests/test_api.py)."""

import numpy as np
import pytest

from ecocompress.measure.flips import Flip, PredictionChanges, prediction_changes
from ecocompress.review.images import flipped_images
from ecocompress.review.tables import changes_frame
from ecocompress.review.summary import flips_sentence

LABELS = np.array([0, 1, 2, 1, 0, 2, 2])
BASELINE = np.array([0, 1, 1, 1, 0, 2, 0])  # wrong on examples 2 and 6
POINT = np.array([0, 2, 2, 1, 1, 2, 1])  # loses 1 and 4, gains 2, still wrong on 6 (another wrong answer)


def test_flips_are_counted_both_ways_and_per_class_by_hand():
    changes = prediction_changes(LABELS, BASELINE, POINT)
    assert (changes.examples, changes.right_to_wrong, changes.wrong_to_right) == (7, 2, 1)
    assert [f.index for f in changes.flipped] == [1, 4, 2]  # right -> wrong first; 6 was never right
    assert [f.lost for f in changes.flipped] == [True, True, False]
    assert changes.flipped[0] == Flip(index=1, label=1, baseline_prediction=1, point_prediction=2)
    per_class = {c.label: (c.examples, c.baseline_correct, c.point_correct) for c in changes.per_class}
    assert per_class == {0: (2, 2, 1), 1: (2, 2, 1), 2: (3, 1, 2)}
    assert changes.per_class[2].change_points == pytest.approx(100 / 3)
    assert PredictionChanges.from_dict(changes.to_dict()) == changes
    assert prediction_changes(LABELS, BASELINE, POINT, keep=1).flipped == changes.flipped[:1]


def test_the_views_say_it_in_words_and_a_table():
    changes = prediction_changes(LABELS, BASELINE, POINT)
    assert flips_sentence(changes) == ("Of 7 test examples: 2 the original answered right are now wrong, 1 it answered "
                                       "wrong are now right (net -1 answer).")
    frame = changes_frame(changes)
    assert list(frame.columns) == ["class", "test examples", "original accuracy (%)", "compressed accuracy (%)",
                                   "change (points)"]
    assert frame["change (points)"].tolist() == [-50.0, -50.0, 33.33]
    images = flipped_images(np.arange(7 * 4, dtype=np.float32).reshape(7, 1, 2, 2), changes)
    assert [caption for _, caption in images] == ["is 1, was 1, now 2", "is 0, was 0, now 1", "is 2, was 1, now 2"]
    assert all(image.min() == 0.0 and image.max() == 1.0 for image, _ in images)
    assert flipped_images(np.zeros((7, 5), dtype=np.float32), changes) == []  # tabular data: a table instead


def test_predictions_of_other_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        prediction_changes(LABELS, BASELINE[:3], POINT)



def _points_on_a_circle(angles_degrees: list[float]) -> np.ndarray:
    radians = np.deg2rad(angles_degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_sentences_whose_nearest_neighbour_moved_are_counted_by_hand():
    """Seven 'sentences' on a circle; the point moves sentence 3 from beside 2 to beside 5."""
    from ecocompress.measure.flips import LostNeighbour, NeighbourChanges, changes_from_dict, nearest, neighbour_changes
    from ecocompress.review.tables import neighbours_frame
    from ecocompress.review.summary import changes_sentence

    before = _points_on_a_circle([0, 10, 30, 40, 100, 140, 200])
    after = _points_on_a_circle([0, 10, 30, 135, 100, 140, 200])
    assert nearest(before, 1)[:, 0].tolist() == [1, 0, 3, 2, 5, 4, 5]
    changes = neighbour_changes(before, after)
    moved = {x.index: (x.baseline_neighbour, x.point_neighbour) for x in changes.lost}
    # 3 left 2 for 5 (5 degrees away), and 3 is now the nearest of 4 and of 5
    assert moved == {2: (3, 1), 3: (2, 5), 4: (5, 3), 5: (4, 3)}
    assert changes.top1_changed == 4 and 0 < changes.neighbours_lost < 7 * 5
    same = neighbour_changes(before, before)
    assert same.top1_changed == 0 and same.neighbours_lost == 0
    assert changes_from_dict(changes.to_dict()) == changes
    assert isinstance(changes_from_dict(changes.to_dict()), NeighbourChanges)
    assert changes.lost[0] == LostNeighbour(2, 3, 1)
    texts = [f"sentence {i}" for i in range(7)]
    frame = neighbours_frame(changes, texts)
    assert frame.values.tolist()[1] == ["sentence 3", "sentence 2", "sentence 5"]
    assert changes_sentence(changes) == (f"Of 7 held-out sentences, 4 have another nearest neighbour than with the "
                                         f"original model; {changes.neighbours_lost} of their 35 5-nearest places went "
                                         "to other sentences.")
    with pytest.raises(ValueError, match="different sentence counts"):
        neighbour_changes(before, after[:5])
