"""Score an ONNX classifier on MNIST's 10,000 test images with onnxruntime and the data file only.

    python bench/score_onnx.py path/to/model.onnx [--data sample_models/data/mnist.npz] [--expect 0.9872]

Independent of ecocompress on purpose (it imports neither torch nor the package): it checks that the
runnable file a run writes reproduces the accuracy the run reported. Pixels are scaled to [0, 1] and
shaped (N, 1, 28, 28), as the sample models were trained. With ``--expect``, exits 1 when the accuracy
differs from the expected one by more than ``--tolerance`` points (default 0.3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

DATA = Path(__file__).resolve().parent.parent / "sample_models" / "data" / "mnist.npz"


def score(model: Path, data: Path = DATA, batch: int = 500) -> float:
    with np.load(data, allow_pickle=False) as npz:
        x = (npz["x_test"].astype(np.float32) / 255.0)[:, None, :, :]
        y = npz["y_test"].astype(np.int64)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    predictions = np.concatenate([session.run(None, {name: x[i : i + batch]})[0].argmax(1) for i in range(0, len(x), batch)])
    return float((predictions == y).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--expect", type=float, default=None, help="the accuracy the run reported (0-1)")
    parser.add_argument("--tolerance", type=float, default=0.3, help="points (default 0.3)")
    args = parser.parse_args()
    accuracy = score(args.model, args.data)
    print(f"{args.model.name}: {accuracy:.2%} on {args.data.name}'s 10,000 test images (onnxruntime)")
    if args.expect is not None:
        gap = abs(accuracy - args.expect) * 100
        print(f"reported {args.expect:.2%}: {gap:.2f} points apart ({'within' if gap <= args.tolerance else 'OUTSIDE'} "
              f"{args.tolerance:g})")
        return 0 if gap <= args.tolerance else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
