"""Fine-tunes that stop once recovered, against the whole recipe, side by side (issue 18's final answers).

    python bench/fine_tune.py [--models mnist-lenet300 mnist-lenet5] [--settings 0.5:6 0.9:4] [--seeds 0]

For each model and setting (sparsity:bits, unstructured pruning then k-bit weights), the torch pipeline
(``compress_model``) runs twice from an empty cache: with the recipe's every epoch, and with the recovery rule
(``compressor.training.with_recovery_rule``: stop at the first check, every 25 steps, where accuracy on held-out
training images is within 0.2 points of the original's; else run the whole recipe). Printed: wall time of each,
their ratio, and test accuracy (MNIST's 10,000 test images) of each and the difference in points.

Target (issue 18): the stopped fine-tune within 0.2 points of the whole recipe, in far less time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))


def one(model: str, sparsity: float, bits: int, seed: int, early_stop: bool) -> tuple[float, float]:
    """(seconds, test accuracy) of one fine-tuned build from an empty model cache."""
    from ecocompress.compressor.pipeline import compress_model
    from ecocompress.compressor.training import accuracy
    from ecocompress.core.points import CompressionPoint
    from ecocompress.models.samples import SAMPLE_MODELS

    spec = SAMPLE_MODELS[model]
    data = spec.dataset()
    with tempfile.TemporaryDirectory() as home:
        os.environ["ECOCOMPRESS_HOME"] = home
        started = time.perf_counter()
        built, _ = compress_model(spec, CompressionPoint(sparsity=sparsity, bits=bits), seed=seed, early_stop=early_stop)
        elapsed = time.perf_counter() - started
    return elapsed, accuracy(built, data.x_test, data.y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mnist-lenet300", "mnist-lenet5"])
    parser.add_argument("--settings", nargs="+", default=["0.5:6", "0.9:4"], help="sparsity:bits")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()

    print(f"{'model':<16} {'setting':<12} {'seed':>4} {'full s':>8} {'stopped s':>10} {'time ratio':>10} "
          f"{'full acc':>9} {'stopped acc':>12} {'change':>8}")
    for model in args.models:
        for setting in args.settings:
            sparsity, bits = float(setting.split(":")[0]), int(setting.split(":")[1])
            for seed in args.seeds:
                full_s, full_acc = one(model, sparsity, bits, seed, early_stop=False)
                stop_s, stop_acc = one(model, sparsity, bits, seed, early_stop=True)
                change = (stop_acc - full_acc) * 100
                print(f"{model:<16} {f'{sparsity:.0%} {bits}-bit':<12} {seed:>4} {full_s:>8.1f} {stop_s:>10.1f} "
                      f"{stop_s / full_s:>9.2f}x {full_acc:>9.2%} {stop_acc:>12.2%} {change:>+7.2f}  "
                      f"{'within 0.2 points' if change >= -0.2 else 'MISSED (more than 0.2 points lost)'}", flush=True)


if __name__ == "__main__":
    main()
