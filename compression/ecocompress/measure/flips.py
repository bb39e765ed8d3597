"""What compression changed, answer by answer: test examples that flipped between the baseline and a point
(for an embedding model: held-out sentences whose nearest neighbour changed).

Two models with the same accuracy can still disagree on many inputs (Compress and Compare, VIS 2024), and a
reviewer wants to see which ones: the counts of right -> wrong and wrong -> right flips, accuracy per class
with its change, and the flipped examples themselves. Everything here is plain arithmetic on predictions,
so it is tested without a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

KEPT_EXAMPLES = 24  # flipped examples kept per point (right -> wrong first): enough to look at, small to store


@dataclass(frozen=True)
class ClassChange:
    """One class: how many test examples it has and how many each model gets right."""

    label: int
    examples: int
    baseline_correct: int
    point_correct: int

    @property
    def baseline_accuracy(self) -> float:
        return self.baseline_correct / self.examples

    @property
    def point_accuracy(self) -> float:
        return self.point_correct / self.examples

    @property
    def change_points(self) -> float:
        """Point minus baseline, in percentage points (negative = worse)."""
        return (self.point_correct - self.baseline_correct) / self.examples * 100.0


@dataclass(frozen=True)
class Flip:
    """A test example the two models answer differently, with at least one of them right."""

    index: int  # position in the test set
    label: int
    baseline_prediction: int
    point_prediction: int

    @property
    def lost(self) -> bool:
        """True when the baseline was right and the point is wrong."""
        return self.baseline_prediction == self.label


@dataclass(frozen=True)
class PredictionChanges:
    """Between the baseline and a point on the same test set: flips both ways, per class, and examples."""

    examples: int
    right_to_wrong: int
    wrong_to_right: int
    per_class: tuple[ClassChange, ...]
    flipped: tuple[Flip, ...]  # at most KEPT_EXAMPLES, right -> wrong first, in test-set order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PredictionChanges":
        return cls(
            examples=data["examples"], right_to_wrong=data["right_to_wrong"], wrong_to_right=data["wrong_to_right"],
            per_class=tuple(ClassChange(**c) for c in data["per_class"]),
            flipped=tuple(Flip(**f) for f in data["flipped"]),
        )


def prediction_changes(
    labels: np.ndarray, baseline: np.ndarray, point: np.ndarray, *, keep: int = KEPT_EXAMPLES
) -> PredictionChanges:
    """Compare two models' class predictions on the same labelled examples."""
    labels, baseline, point = (np.asarray(a).astype(np.int64).ravel() for a in (labels, baseline, point))
    if not labels.shape == baseline.shape == point.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.shape}, {baseline.shape}, {point.shape}")
    base_ok, point_ok = baseline == labels, point == labels
    lost, gained = np.flatnonzero(base_ok & ~point_ok), np.flatnonzero(~base_ok & point_ok)
    per_class = tuple(
        ClassChange(int(c), int(mask.sum()), int(base_ok[mask].sum()), int(point_ok[mask].sum()))
        for c in np.unique(labels) for mask in [labels == c]
    )
    kept = [*lost[:keep], *gained[: max(0, keep - len(lost))]]
    flipped = tuple(Flip(int(i), int(labels[i]), int(baseline[i]), int(point[i])) for i in kept)
    return PredictionChanges(len(labels), len(lost), len(gained), per_class, flipped)


# ---- sentence embeddings: nearest neighbours instead of classes ------------------------------------------------------

NEIGHBOURS = 5  # the text model's quality figure keeps each sentence's 5 nearest neighbours


@dataclass(frozen=True)
class LostNeighbour:
    """A held-out sentence whose nearest neighbour changed: by the original model, and by the compressed one."""

    index: int  # position among the held-out sentences
    baseline_neighbour: int
    point_neighbour: int


@dataclass(frozen=True)
class NeighbourChanges:
    """What an embedding model's compression changed: whose nearest neighbour moved, and how many neighbours were lost.

    The text model's answer to a sentence is its neighbourhood, not a class, so its "flips" are sentences whose
    nearest neighbour is now another sentence.
    """

    examples: int
    top1_changed: int  # sentences whose nearest neighbour is another one now
    neighbours_lost: int  # of the examples x NEIGHBOURS nearest-neighbour slots, how many the point no longer has
    lost: tuple[LostNeighbour, ...]  # at most KEPT_EXAMPLES, in held-out order
    kind: str = "neighbours"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NeighbourChanges":
        return cls(data["examples"], data["top1_changed"], data["neighbours_lost"],
                   tuple(LostNeighbour(**x) for x in data["lost"]))


def nearest(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` most cosine-similar other rows, nearest first."""
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def shared_neighbours(before: np.ndarray, after: np.ndarray) -> int:
    """How many nearest-neighbour places (rows of ``nearest``) two models' neighbour lists have in common."""
    return int(sum(len(set(a) & set(b)) for a, b in zip(before.tolist(), after.tolist())))


def neighbour_changes(reference: np.ndarray, embeddings: np.ndarray, *, keep: int = KEPT_EXAMPLES) -> NeighbourChanges:
    """Compare the original's (``reference``) and a point's embeddings of the same held-out sentences."""
    if reference.shape[0] != embeddings.shape[0]:
        raise ValueError(f"embeddings of different sentence counts: {reference.shape[0]}, {embeddings.shape[0]}")
    before, after = nearest(reference, NEIGHBOURS), nearest(embeddings, NEIGHBOURS)
    moved = np.flatnonzero(before[:, 0] != after[:, 0])
    lost = tuple(LostNeighbour(int(i), int(before[i, 0]), int(after[i, 0])) for i in moved[:keep])
    return NeighbourChanges(len(reference), len(moved), before.size - shared_neighbours(before, after), lost)


def changes_from_dict(data: dict[str, Any]) -> "PredictionChanges | NeighbourChanges":
    """A record's ``prediction_changes`` as the right kind: class flips, or neighbours lost (the text model)."""
    return NeighbourChanges.from_dict(data) if data.get("kind") == "neighbours" else PredictionChanges.from_dict(data)
