"""ecocompress against what a user would pick instead, per sample model, measured side by side.

    python bench/peers.py [--models digits-cnn,mnist-lenet300,mnist-lenet5] [--repeats 3] [--window 2.0] [--no-per-layer]

Variants of each model, all built in one run (peers' files in a temporary folder):
1. fp32: the trained model exported to ONNX, run in onnxruntime;
2. onnxruntime ``quantize_dynamic`` with its defaults;
3. onnxruntime ``quantize_static`` with its defaults (QDQ, MinMax, per-tensor), calibrated on
   1,024 training images in 16 equal batches of 64 (its calibrators crash on a short batch);
4. PyTorch dynamic quantization of the ``nn.Linear`` layers (``torch.ao.quantization``), run in
   PyTorch with ``torch.set_num_threads(1)``;
5. NNCF post-training quantization of the ONNX model (``nncf.quantize``) on the same 1,024
   training images (needs ``pip install .[bench]``; reported as not installed otherwise);
6. ecocompress: a few candidate points measured by the product itself (``measure_point``: built,
   fine-tuned, exported, runtime format chosen by timing, stored and cached), among them the per-layer
   point chosen for energy within 1 point (``--per-layer auto --objective energy``: channels, neurons and
   input pixels kept per layer; ``--no-per-layer`` leaves it out), and the one ``recommend`` (the product's
   one rule) picks within 1 point of accuracy (it ranks by the energy measured then).

All variants are then timed and metered *side by side*, interleaved (A, B, C, ..., A, B, C):
every repeat runs each variant's latency (batch 1 per call, batch 256 per item) and one
CodeCarbon window of at least ``--window`` seconds at batch 256, one thread throughout. The
PyTorch model sits behind a session-shaped adapter, so the same code (``measure_accuracy``,
``measure_latency``, ``session_workload``, ``measure_window``) measures every variant.

Stored bytes: the file a peer produces (ONNX; PyTorch's saved ``state_dict``) and ecocompress's
k-bit storage file; runnable bytes: the file that runs. The best peer is the lowest-energy one
of 2-5 within 1 point of fp32 accuracy. Targets: ecocompress's pick uses at most half the best
peer's energy per inference, at no more than 1 point of accuracy loss, and stores in at most a
quarter of its bytes. Ratios are variant / reference, so lower is better; "change" is accuracy
vs fp32 in points, energy is the median over the repeats with its spread (max - min). Since
ecocompress's storage file is LZMA-compressed, the verdict also gives its ratio to the best
peer's file LZMA-compressed (a stricter baseline than the target's).

The candidates are the cheap-to-train ones of bench/speedups.py: the 90%-sparse 4-bit points
(gradual pruning plus quantization-aware fine-tuning) would add minutes per MNIST model and push
a first run past 15 minutes on 2 cores. ``measure_point`` caches, so reruns skip the training.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import lzma
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compression"))

from ecocompress.core.choice import recommend  # noqa: E402
from ecocompress.service.api import measure_point  # noqa: E402
from ecocompress.service.layers import allocate_point  # noqa: E402
from ecocompress.measure.energy import measure_window, warm_up_codecarbon  # noqa: E402
from ecocompress.compressor.export import INPUT_NAME, export_onnx  # noqa: E402
from ecocompress.measure.session import (  # noqa: E402
    AccuracyResult,
    measure_accuracy,
    measure_latency,
    open_session,
    session_workload,
)
from ecocompress.models.registry import SAMPLE_MODELS, SampleModel, get_model  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import Measurement  # noqa: E402
from ecocompress.compressor.techniques.quantization import CALIBRATION_BATCH, CALIBRATION_BATCHES, EqualBatchReader  # noqa: E402
from sidebyside import BATCH, Timings  # noqa: E402

MAX_DROP_POINTS = 1.0
ENERGY_TARGET = 0.5  # ecocompress / best peer, energy per inference
STORAGE_TARGET = 0.25  # ecocompress / best peer, stored bytes
CALIBRATION_EXAMPLES = CALIBRATION_BATCH * CALIBRATION_BATCHES
TORCH_THREADS = 1
NOT_INSTALLED = "not installed: pip install .[bench]"
CANDIDATES = [  # what bench/speedups.py found worth it on a CPU, minus the slowest to train
    CompressionPoint(bits=8),
    CompressionPoint(student_width=0.5, bits=8),
    CompressionPoint(sparsity=0.5, structured=True, bits=8),
]
FP32, ORT_DYNAMIC, ORT_STATIC, TORCH_DYNAMIC, NNCF = (
    "fp32 (onnxruntime)", "ort quantize_dynamic", "ort quantize_static", "torch dynamic (Linear)", "nncf quantize"
)
STARTED = time.perf_counter()


class TorchSession:
    """A PyTorch module dressed as an onnxruntime session: ``run(None, {name: x}) -> [logits]``.

    It lets ``ecocompress.measure.session`` (accuracy, latency, energy workload) run it unchanged.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=INPUT_NAME)]

    def run(self, _output_names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            return [self.model(torch.from_numpy(feeds[INPUT_NAME])).numpy()]


@dataclass
class Variant:
    """One contender: how it runs, its files' sizes, and what was measured on it."""

    label: str
    session: Any = None  # onnxruntime.InferenceSession or TorchSession; None if it could not be built
    file: Path | None = None  # the stored file: a peer's ONNX or state_dict, ecocompress's .ecz
    stored_bytes: int = 0
    runnable_bytes: int = 0
    failure: str = ""
    accuracy: AccuracyResult | None = None
    timings: Timings = field(default_factory=Timings)

    @property
    def energy(self) -> float:
        return self.timings.median("wh_per_1k")


def onnx_variant(label: str, path: Path) -> Variant:
    size = path.stat().st_size
    return Variant(label, open_session(path), path, size, size)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the quantizers' advice (root logger, warnings, NNCF's progress output)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def note(text: str) -> None:
    """Progress on stderr (seconds since start), so stdout holds only the tables."""
    print(f"  [{time.perf_counter() - STARTED:5.0f} s] {text}", file=sys.stderr, flush=True)


# --- the peers ------------------------------------------------------------------------------------


def ort_dynamic(fp32: Path, work: Path) -> Variant:
    from onnxruntime.quantization import quantize_dynamic

    quantize_dynamic(str(fp32), str(work / "ort_dynamic.onnx"))
    return onnx_variant(ORT_DYNAMIC, work / "ort_dynamic.onnx")


def ort_static(fp32: Path, work: Path, calibration: np.ndarray) -> Variant:
    from onnxruntime.quantization import quantize_static

    reader = EqualBatchReader(INPUT_NAME, calibration, batch_size=CALIBRATION_BATCH, batches=CALIBRATION_BATCHES)
    quantize_static(str(fp32), str(work / "ort_static.onnx"), reader)
    return onnx_variant(ORT_STATIC, work / "ort_static.onnx")


def nncf_ptq(fp32: Path, work: Path, calibration: np.ndarray) -> Variant:
    try:
        import nncf
    except ImportError as exc:
        return Variant(NNCF, failure=f"{NOT_INSTALLED} ({exc})")
    nncf.set_log_level(logging.ERROR)
    dataset = nncf.Dataset(list(calibration), lambda x: {INPUT_NAME: x[None]})  # one image per item
    quantized = nncf.quantize(onnx.load(str(fp32)), dataset, subset_size=len(calibration))
    onnx.save(quantized, str(work / "nncf.onnx"))
    return onnx_variant(NNCF, work / "nncf.onnx")


def torch_dynamic(spec: SampleModel, work: Path) -> Variant:
    from torch.ao.quantization import quantize_dynamic

    model = spec.load()
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        return Variant(TORCH_DYNAMIC, failure="n/a: no nn.Linear layers")
    model = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    path = work / "torch_dynamic.pt"
    torch.save(model.state_dict(), path)
    return Variant(TORCH_DYNAMIC, TorchSession(model), path, path.stat().st_size, path.stat().st_size)


def calibration_set(x_train: np.ndarray) -> np.ndarray:
    """The same 1,024 training images (seeded draw) for every calibrated peer."""
    order = np.random.default_rng(0).permutation(len(x_train))[:CALIBRATION_EXAMPLES]
    return np.ascontiguousarray(x_train[order])


def build_peers(spec: SampleModel, fp32: Path, work: Path, x_train: np.ndarray) -> list[Variant]:
    """Peers 2-5; one that fails to build is kept as a row with the reason."""
    calibration = calibration_set(x_train)
    builders: dict[str, Callable[[], Variant]] = {
        ORT_DYNAMIC: lambda: ort_dynamic(fp32, work),
        ORT_STATIC: lambda: ort_static(fp32, work, calibration),
        TORCH_DYNAMIC: lambda: torch_dynamic(spec, work),
        NNCF: lambda: nncf_ptq(fp32, work, calibration),
    }
    peers = []
    for label, build in builders.items():
        note(f"building {label}")
        try:
            with quiet():
                peers.append(build())
        except Exception as exc:  # a peer that breaks on this model is reported, not fatal
            peers.append(Variant(label, failure=f"failed: {type(exc).__name__}: {exc}".strip()[:160]))
    return peers


# --- ecocompress ----------------------------------------------------------------------------------


def candidates(model: str, per_layer: bool) -> list[CompressionPoint]:
    """The uniform candidates, plus the per-layer point the product chooses for energy within the same budget."""
    if not per_layer or not get_model(model).per_layer_allocation:
        return list(CANDIDATES)
    note(f"ecocompress allocate_point({model!r}, objective='energy', max_accuracy_drop={MAX_DROP_POINTS:g})")
    point, allocation = allocate_point(model, objective="energy", max_accuracy_drop=MAX_DROP_POINTS)
    note(f"per-layer choice: {allocation.describe()}")
    return [*CANDIDATES, point]


def ecocompress_pick(model: str, per_layer: bool) -> tuple[Measurement | None, list[Measurement]]:
    """Measure the candidates with the product and let ``recommend`` choose (None: none within 1 point)."""
    measured = []
    for point in candidates(model, per_layer):
        note(f"ecocompress measure_point({model!r}, {point.label()})")
        measured.append(measure_point(model, point))
    best = recommend(measured, MAX_DROP_POINTS)
    pick = best.record if best and best.within_budget else None
    return pick, measured


def ecocompress_variant(pick: Measurement) -> Variant:
    """Runs its ONNX artifact; stores as its k-bit storage file (``Measurement.storage_bytes``)."""
    runnable = Path(pick.onnx_path)
    return Variant(f"ecocompress: {pick.label}", open_session(runnable), Path(pick.storage_path),
                   pick.storage_bytes, runnable.stat().st_size)


# --- measuring ------------------------------------------------------------------------------------


def side_by_side(variants: list[Variant], x: np.ndarray, *, repeats: int, window: float) -> None:
    """``sidebyside.side_by_side`` for any session-shaped runner: interleaved latency and energy."""
    warm_up_codecarbon()
    workloads = {v.label: session_workload(v.session, x, BATCH) for v in variants}
    for _ in range(repeats):
        for v in variants:
            lat = measure_latency(v.session, x, large_batch=BATCH, min_seconds=0.3)
            v.timings.lat1_ms.append(lat.batch1_median_ms)
            v.timings.latb_ms.append(lat.large_batch_median_ms)
            win, method = measure_window(workloads[v.label], min_seconds=window, min_inferences=4 * BATCH)
            v.timings.wh_per_1k.append(win.wh_per_1k)
            v.timings.method = method.description


def drop_points(v: Variant, base: Variant) -> float:
    return (base.accuracy.accuracy - v.accuracy.accuracy) * 100.0


def best_peer(peers: list[Variant], base: Variant) -> Variant | None:
    eligible = [p for p in peers if p.session is not None and drop_points(p, base) <= MAX_DROP_POINTS + 1e-9]
    return min(eligible, key=lambda p: p.energy, default=None)


# --- reporting ------------------------------------------------------------------------------------

HEADER = (
    f"{'variant':<64} {'accuracy [95% CI]':>22} {'change':>6} {'stored B':>10} {'runnable B':>10} "
    f"{'b1 ms':>7} {'b256 µs':>8} {'mWh/1k':>8} {'spread':>7} {'E/fp32':>6} {'E/peer':>6} {'S/fp32':>6} {'S/peer':>6}"
)


def row(v: Variant, base: Variant, peer: Variant | None) -> str:
    if v.session is None:
        return f"{v.label:<64} {v.failure}"
    t, acc = v.timings, v.accuracy
    wh = t.wh_per_1k
    e_peer = f"{v.energy / peer.energy:>6.2f}" if peer else f"{'-':>6}"
    s_peer = f"{v.stored_bytes / peer.stored_bytes:>6.2f}" if peer else f"{'-':>6}"
    return (
        f"{v.label:<64} {acc.accuracy:>7.2%} [{acc.ci_low:.2%}, {acc.ci_high:.2%}] "
        f"{-drop_points(v, base) + 0.0:>+6.2f} {v.stored_bytes:>10,} {v.runnable_bytes:>10,} "
        f"{t.median('lat1_ms'):>7.4f} {t.median('latb_ms') * 1e3:>8.2f} "
        f"{v.energy * 1e3:>8.4f} {(max(wh) - min(wh)) * 1e3:>7.4f} {v.energy / base.energy:>6.2f} {e_peer} "
        f"{v.stored_bytes / base.stored_bytes:>6.2f} {s_peer}"
    )


def verdict(eco: Variant | None, peer: Variant | None, base: Variant) -> list[str]:
    """Whether ecocompress's pick meets both targets against the best peer, check by check."""
    if eco is None:
        return [f"targets NOT MET: no ecocompress candidate is within {MAX_DROP_POINTS:g} point of fp32 accuracy"]
    if peer is None:
        return [f"targets not applicable: no peer is within {MAX_DROP_POINTS:g} point of fp32 accuracy"]
    energy, storage, drop = eco.energy / peer.energy, eco.stored_bytes / peer.stored_bytes, drop_points(eco, base)
    checks = [
        (f"energy {energy:.2f}x of best peer's (<= {ENERGY_TARGET:g}x)", energy <= ENERGY_TARGET),
        (f"accuracy loss {drop:.2f} points (<= {MAX_DROP_POINTS:g})", drop <= MAX_DROP_POINTS + 1e-9),
        (f"storage {storage:.2f}x of best peer's (<= {STORAGE_TARGET:g}x)", storage <= STORAGE_TARGET),
    ]
    packed = len(lzma.compress(peer.file.read_bytes()))  # ecocompress's file is LZMA-compressed: a fairer baseline
    return [
        f"targets {'MET' if all(ok for _, ok in checks) else 'NOT MET'}: "
        + "; ".join(f"{what} {'met' if ok else 'MISSED'}" for what, ok in checks),
        f"  (stricter: against the best peer's file LZMA-compressed too, {packed:,} B, "
        f"storage is {eco.stored_bytes / packed:.2f}x)",
    ]


def candidate_lines(measured: list[Measurement], pick: Measurement | None) -> list[str]:
    lines = ["ecocompress candidates, as measure_point measured them (recommend ranks by this energy):"]
    for m in measured:
        lines.append(
            f"  {m.label:<30} accuracy {-m.accuracy_drop_points + 0.0:+.2f} points, "
            f"{m.energy_wh_per_1k * 1e3:.4f} mWh/1k ({m.energy_ratio:.2f}x fp32), stored {m.storage_bytes:,} B"
        )
    if pick:
        lines.append(f"ecocompress pick: {pick.label}; runs as {pick.runtime_format}; stored as {pick.storage_format}")
    return lines


def per_layer_against_uniform(per_layer: Variant | None, uniform: Variant | None) -> list[str]:
    """The energy objective's point against the best uniform candidate within the same budget, side by side."""
    if per_layer is None or uniform is None or per_layer.session is None or uniform.session is None:
        return []
    ratio = per_layer.energy / uniform.energy
    return [f"per-layer (energy) against the best uniform candidate within {MAX_DROP_POINTS:g} point ({uniform.label[13:]}): "
            f"{ratio:.2f}x its energy, {per_layer.stored_bytes / uniform.stored_bytes:.2f}x its stored bytes, "
            f"accuracy {drop_points(uniform, per_layer):+.2f} points (measured side by side above)"]


def report(model: str, base: Variant, peers: list[Variant], eco: Variant, others: list[Variant], lines: list[str],
           repeats: int, window: float) -> None:
    ran = eco if eco.session is not None else None
    peer = best_peer(peers, base)
    print(f"\n## {model}  ({base.accuracy.n:,} test images; {repeats} interleaved repeats, energy windows "
          f">= {window:g} s at batch {BATCH}, 1 thread; ratios are variant / reference)")
    print(HEADER)
    for v in (base, *peers, eco, *others):
        print(row(v, base, peer))
    print(f"best peer: {peer.label if peer else 'none within 1 point'}; energy: {base.timings.method}")
    ours = [v for v in (eco, *others) if v.session is not None]
    per_layer = next((v for v in ours if v.label.startswith("ecocompress: per layer")), None)
    uniform = next((v for v in ours if not v.label.startswith("ecocompress: per layer")), None)
    print("\n".join([*lines, *per_layer_against_uniform(per_layer, uniform), *verdict(ran, peer, base)]))


def second_candidate(measured: list[Measurement], pick: Measurement | None) -> Measurement | None:
    """The candidate to time beside the pick: the best uniform one if the pick is per-layer, else the per-layer one."""
    per_layer = [m for m in measured if m.kept_units]
    uniform = recommend([m for m in measured if not m.kept_units], MAX_DROP_POINTS)
    other = (uniform.record if uniform and uniform.within_budget else None) if pick in per_layer else next(iter(per_layer), None)
    return other if other is not None and other is not pick else None


def bench_model(model: str, repeats: int, window: float, work: Path, per_layer: bool) -> None:
    spec = get_model(model)
    data = spec.dataset()
    pick, measured = ecocompress_pick(model, per_layer)
    note("exporting fp32 to ONNX")
    base = onnx_variant(FP32, export_onnx(spec.load(), data.input_shape, work / "fp32.onnx"))
    peers = build_peers(spec, base.file, work, data.x_train)
    eco = ecocompress_variant(pick) if pick else Variant("ecocompress", failure="no candidate within 1 point")
    second = second_candidate(measured, pick)
    others = [ecocompress_variant(second)] if second else []
    runnable = [v for v in (base, *peers, eco, *others) if v.session is not None]
    for v in runnable:
        v.accuracy = measure_accuracy(v.session, data.x_test, data.y_test)
    note(f"timing and metering {len(runnable)} variants side by side")
    side_by_side(runnable, data.x_test, repeats=repeats, window=window)
    report(model, base, peers, eco, others, candidate_lines(measured, pick), repeats, window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SAMPLE_MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per energy window")
    parser.add_argument("--no-per-layer", action="store_true", help="leave out the per-layer candidate chosen for energy")
    args = parser.parse_args()
    torch.set_num_threads(TORCH_THREADS)
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix=f"peers-{model}-") as tmp:
            bench_model(model, args.repeats, args.window, Path(tmp), not args.no_per_layer)
    print(f"\n(total {time.perf_counter() - STARTED:.0f} s)")


if __name__ == "__main__":
    main()
