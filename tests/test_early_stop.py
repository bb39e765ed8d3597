"""Fine-tunes that stop once the original's held-out accuracy is back (``compressor.training``'s recovery rule).

On digits-cnn with 512 training images, so every case takes a second or two.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ecocompress.compressor import training
from ecocompress.compressor.training import (
    RECOVERY_TOLERANCE, StopRule, TrainConfig, accuracy, steps_note, train_classifier, with_recovery_rule,
)
from ecocompress.models.registry import get_model

SPEC = get_model("digits-cnn")
DATA = SPEC.dataset()
X, Y = DATA.x_train[:512], DATA.y_train[:512]
HELD_X, HELD_Y = DATA.x_train[512:1024], DATA.y_train[512:1024]
CFG = TrainConfig(epochs=2, batch_size=64, lr=5e-4, shift_pixels=1)
BUDGET = 2 * 8  # epochs x batches of 64 in 512 images


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_model_already_recovered_is_not_trained_at_all():
    model = SPEC.load()
    before = _weights(model)
    rule = StopRule(HELD_X, HELD_Y, target=0.0)
    train_classifier(model, X, Y, replace(CFG, stop=rule))
    assert rule.steps_run == [(0, BUDGET)]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_unreachable_target_runs_the_whole_recipe():
    rule = StopRule(HELD_X, HELD_Y, target=1.01, every_steps=4)
    train_classifier(SPEC.load(), X, Y, replace(CFG, stop=rule))
    assert rule.steps_run == [(BUDGET, BUDGET)]


def test_training_ends_at_the_first_check_that_reaches_the_target(monkeypatch):
    readings = iter([0.50, 0.70, 0.95, 0.99])  # held-out accuracy at steps 0, 4, 8, 12
    monkeypatch.setattr(training, "accuracy", lambda model, x, y: next(readings))
    rule = StopRule(HELD_X, HELD_Y, target=0.9, every_steps=4)
    train_classifier(SPEC.load(), X, Y, replace(CFG, stop=rule))
    assert rule.steps_run == [(8, BUDGET)]
    assert next(readings) == 0.99  # no check after the one that stopped it


def test_small_training_sets_keep_every_image_and_the_whole_recipe():
    x, y, config = with_recovery_rule(SPEC.load(), DATA.x_train, DATA.y_train, CFG)
    assert config.stop is None and x is DATA.x_train and y is DATA.y_train


def test_large_training_sets_hold_out_images_the_fine_tune_never_sees():
    copies = 21  # 21 x 1,437 digits = 30,177 images: 3,017 held out
    big_x, big_y = np.tile(DATA.x_train, (copies, 1, 1, 1)), np.tile(DATA.y_train, copies)
    big_x = big_x + np.arange(len(big_x), dtype=np.float32)[:, None, None, None] * 1e-6  # every image distinct
    model = SPEC.load()
    x, y, config = with_recovery_rule(model, big_x, big_y, CFG)
    rule = config.stop
    assert rule is not None and len(rule.y) == int(len(big_x) * 0.1) and len(x) == len(big_x) - len(rule.y)
    assert not set(map(float, x[:, 0, 0, 0])) & set(map(float, rule.x[:, 0, 0, 0]))
    assert abs(rule.target - (accuracy(model, rule.x, rule.y) - RECOVERY_TOLERANCE)) < 1e-12
    assert config.epochs == CFG.epochs and config.lr == CFG.lr


def test_the_note_counts_the_steps_of_every_run_since_the_step_began():
    rule = StopRule(HELD_X, HELD_Y, target=0.9, steps_run=[(5, 100), (0, 100), (40, 100)])
    assert steps_note(rule, 3) is None
    assert steps_note(rule, 1).startswith("fine-tuned for 40 of the recipe's 200 optimiser steps")
    assert "512 held-out training images" in steps_note(rule, 0)
