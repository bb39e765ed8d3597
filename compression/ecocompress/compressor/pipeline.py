"""The torch pipeline: (trainable model, compression point) -> runnable ONNX artifact + compact storage file.

Steps, in this fixed order, each a pure function from model to model:
distill (student width) -> prune (sparsity, structured or not) -> factorise (rank) ->
quantize weights (bits) -> export to ONNX -> choose the runnable format by measuring.
Every torch step's output is cached by content (the parent's key plus the step and its
settings), so moving one slider recomputes only what changed: the distilled student is
reused across sparsities and bit-widths, the pruned model across bit-widths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.architectures import count_parameters
from ecocompress.compressor.artifact import Artifact, choose_and_store
from ecocompress.compressor.export import export_onnx
from ecocompress.compressor.storage import fp16_weights, pack
from ecocompress.compressor.techniques.distillation import distill
from ecocompress.compressor.techniques.kbit import quantize_weights
from ecocompress.compressor.techniques.layers import conform_to_state_dict, count_macs
from ecocompress.compressor.techniques.lowrank import factorize
from ecocompress.compressor.techniques.pruning import magnitude_prune, prune_widths, structured_prune
from ecocompress.compressor.training import steps_note, with_recovery_rule
from ecocompress.core.config import home_dir
from ecocompress.core.data import Dataset
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.provenance import code_version
from ecocompress.core.recipes import QUICK_STUDENT_EXAMPLES, TrainConfig


class TrainableModel(Protocol):
    """What the torch pipeline needs from a model kind (samples, your own PyTorch model, upload students)."""

    name: str

    @property
    def content_hash(self) -> str: ...

    @property
    def baseline_macs(self) -> int: ...

    def dataset(self) -> Dataset: ...

    def load(self) -> nn.Module: ...

    def build(self, width: float = 1.0) -> nn.Module: ...

    def finetune_config(self, seed: int = 0) -> TrainConfig: ...

    def distill_config(self, seed: int = 0) -> TrainConfig: ...


class ModelCache:
    """Intermediate torch models by content key: in memory (LRU) and on disk as plain arrays."""

    def __init__(self, root: Path | None = None, memory_items: int = 16) -> None:
        self.root = root or home_dir() / "cache" / "models"
        self._memory: OrderedDict[str, tuple[nn.Module, list[str], float]] = OrderedDict()
        self._size = memory_items
        self._lock = threading.Lock()

    def get(self, key: str, spec: TrainableModel) -> tuple[nn.Module, list[str]] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                model, notes, _ = self._memory[key]
                return model, list(notes)
        meta_path, weights_path = self.root / f"{key}.json", self.root / f"{key}.npz"
        if not (meta_path.is_file() and weights_path.is_file()):
            return None
        meta = json.loads(meta_path.read_text())
        with np.load(weights_path, allow_pickle=False) as npz:
            state = {k: torch.from_numpy(npz[k]) for k in npz.files}
        model = conform_to_state_dict(spec.build(meta["width"]), state)
        self._remember(key, model, meta["notes"], meta["width"])
        return model, list(meta["notes"])

    def put(self, key: str, model: nn.Module, notes: list[str], width: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        tmp = self.root / f".{key}.tmp.npz"
        np.savez(tmp, **state)
        tmp.replace(self.root / f"{key}.npz")  # atomic: a killed build leaves no half file
        (self.root / f"{key}.json").write_text(json.dumps({"width": width, "notes": notes}))
        self._remember(key, model, notes, width)

    def _remember(self, key: str, model: nn.Module, notes: list[str], width: float) -> None:
        with self._lock:
            self._memory[key] = (model, list(notes), width)
            self._memory.move_to_end(key)
            while len(self._memory) > self._size:
                self._memory.popitem(last=False)


_CACHE: ModelCache | None = None


def model_cache() -> ModelCache:
    """The process-wide cache under the current ECOCOMPRESS_HOME."""
    global _CACHE
    root = home_dir() / "cache" / "models"
    if _CACHE is None or _CACHE.root != root:
        _CACHE = ModelCache(root)
    return _CACHE


def step_key(parent: str, step: str, **settings: object) -> str:
    text = json.dumps({"parent": parent, "step": step, "code": code_version(), **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def compress_model(
    spec: TrainableModel, point: CompressionPoint, *, seed: int = 0, progress: Progress = no_progress,
    early_stop: bool = True,
) -> tuple[nn.Module, list[str]]:
    """Apply the point's torch-level steps in order, reusing cached intermediate models.

    ``early_stop=False`` runs every fine-tune's whole recipe (``bench/fine_tune.py`` compares the two).
    """
    cache = model_cache()
    data = spec.dataset()
    model, notes, key = spec.load(), [], spec.content_hash
    width = point.student_width
    # The quick version (``fine_tuned=False``) skips every fine-tune and distils a student for one epoch only, over
    # at most QUICK_STUDENT_EXAMPLES (``quick_subset``);
    # its steps are cached under their own keys (fine-tuned keys are unchanged).
    tune = spec.finetune_config(seed) if point.fine_tuned else replace(spec.finetune_config(seed), epochs=0)
    teach = spec.distill_config(seed) if point.fine_tuned else replace(spec.distill_config(seed), epochs=1)
    variant = {} if point.fine_tuned else {"quick": True}  # in the cache keys of steps built differently
    tuned = "fine-tuned" if point.fine_tuned else "not fine-tuned"
    # Fine-tunes stop once held-out accuracy is back (``with_recovery_rule``, set up at the first step not in the
    # cache that fine-tunes: holding images out copies the training set and scores the original on them);
    # distillation keeps every image.
    original, x_fit, y_fit, ready = model, data.x_train, data.y_train, not early_stop
    if not early_stop:
        variant["full_recipe"] = True

    def run_step(name: str, fraction: float, compute: Callable[[nn.Module], tuple[nn.Module, list[str]]], *,
                 fine_tunes: bool = True, **settings):
        nonlocal model, notes, key, x_fit, y_fit, tune, ready
        key = step_key(key, name, seed=seed, **settings, **variant)
        hit = cache.get(key, spec)
        if hit is not None:
            model, notes = hit
            return
        progress(name, fraction)
        if fine_tunes and not ready:
            x_fit, y_fit, tune = with_recovery_rule(original, x_fit, y_fit, tune)
            ready = True
        runs_before = len(tune.stop.steps_run) if tune.stop else 0
        model, extra = compute(model)
        stopped = steps_note(tune.stop, runs_before) if tune.stop else None
        notes = notes + extra + ([stopped] if stopped else [])
        cache.put(key, model, notes, width)

    if width != 1.0:
        def do_distill(teacher):
            x, y = (data.x_train, data.y_train) if point.fine_tuned else quick_subset(data.x_train, data.y_train, seed)
            result = distill(teacher, lambda: spec.build(width), x, y, teach, compare=point.fine_tuned)
            if point.fine_tuned:
                return result.student, [
                    f"student x{width:g}: {result.method} kept (held-out training accuracy "
                    f"{result.kd_validation_accuracy:.2%} with the teacher, {result.plain_validation_accuracy:.2%} without)"
                ]
            return result.student, [
                f"student x{width:g} (one epoch on {len(y):,} of {len(data.y_train):,} training examples): "
                f"{result.method} (held-out training accuracy {result.kd_validation_accuracy:.2%}; compared with "
                "training alone in the final answer)"
            ]

        run_step("distilling a student" if point.fine_tuned else "distilling a student for one epoch", 0.1, do_distill,
                 fine_tunes=False, width=width)
    if point.layer_settings:
        rates, widths = point.layer_sparsity, point.layer_bits
        qat = min(widths.values()) < 7 and point.fine_tuned
        run_step(
            "pruning layer by layer and fine-tuning" if point.fine_tuned else "pruning layer by layer", 0.25,
            lambda m: (magnitude_prune(m, rates, x_fit, y_fit, tune),
                       [f"magnitude pruning per layer ({', '.join(f'{n} {r:.0%}' for n, r in rates.items())}) "
                        f"in 3 stages, {tuned}"]),
            layer_sparsity=sorted(rates.items()),
        )
        run_step(
            "quantization-aware fine-tuning" if qat else "quantizing weights", 0.45,
            lambda m: (quantize_weights(m, widths, x_fit, y_fit, tune if qat else None),
                       [f"weights on per-channel grids of their own width ({', '.join(f'{n} {b}-bit' for n, b in widths.items())})"
                        + (" (quantization-aware fine-tuning)" if qat else " (post-training rounding)")]),
            fine_tunes=qat, layer_bits=sorted(widths.items()),
        )
        return model, notes
    if point.kept_units:
        kept = dict(point.kept_units)

        def do_narrow(m):
            narrowed = prune_widths(m, kept, data.input_shape, x_fit, y_fit, tune)
            return narrowed, [f"structured pruning per layer ({', '.join(f'{n} {c}' for n, c in kept.items())} kept) "
                              f"removed {1 - count_parameters(narrowed) / count_parameters(m):.0%} of parameters, {tuned}"]

        run_step("pruning channels layer by layer and fine-tuning" if point.fine_tuned else "pruning channels layer by layer",
                 0.25, do_narrow, kept_units=sorted(kept.items()))
    elif point.sparsity > 0:
        if point.structured:
            def do_prune(m):
                pruned = structured_prune(m, point.sparsity, data.input_shape, x_fit, y_fit, tune)
                return pruned, [f"structured pruning removed {1 - count_parameters(pruned) / count_parameters(m):.0%} of parameters, {tuned}"]
        else:
            def do_prune(m):
                pruned = magnitude_prune(m, point.sparsity, x_fit, y_fit, tune)
                return pruned, [f"global magnitude pruning to {point.sparsity:.0%} zeros in 3 stages, {tuned}"]

        run_step("pruning and fine-tuning" if point.fine_tuned else "pruning", 0.25, do_prune,
                 sparsity=point.sparsity, structured=point.structured)
    if point.rank_ratio is not None:
        run_step(
            "factorising (low rank) and fine-tuning" if point.fine_tuned else "factorising (low rank)", 0.35,
            lambda m: (factorize(m, point.rank_ratio, x_fit, y_fit, tune),
                       [f"low-rank factorisation at rank ratio {point.rank_ratio:g}, {tuned}"]),
            rank=point.rank_ratio,
        )
    if point.bits <= 8:
        qat = point.bits < 7 and point.fine_tuned
        run_step(
            "quantization-aware fine-tuning" if qat else "quantizing weights", 0.45,
            lambda m: (quantize_weights(m, point.bits, x_fit, y_fit, tune if qat else None),
                       [f"weights on a per-channel {point.bits}-bit grid" + (" (quantization-aware fine-tuning)" if qat else " (post-training rounding)")]),
            fine_tunes=qat, bits=point.bits,
        )
    elif point.bits == 16:
        model = fp16_weights(model)
        notes = notes + ["weights rounded to fp16"]
    return model, notes


def quick_subset(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A first answer's training examples: all of them up to ``QUICK_STUDENT_EXAMPLES``, else a seeded sample of
    that many (in their original order), so a large training file does not hold up the first answer."""
    if len(y) <= QUICK_STUDENT_EXAMPLES:
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:QUICK_STUDENT_EXAMPLES])
    return x[keep], y[keep]


def _metadata(point: CompressionPoint) -> dict[str, str]:
    """What a per-layer point did to each layer, for the runnable file's metadata (JSON values)."""
    found = {"ecocompress.layer_settings": point.layer_settings, "ecocompress.kept_units": point.kept_units}
    return {key: json.dumps([list(x) for x in value]) for key, value in found.items() if value}


def build_artifact(
    spec: TrainableModel,
    point: CompressionPoint,
    out_path: Path,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
) -> Artifact:
    """Compress ``spec`` as ``point`` says; write the ONNX artifact to ``out_path`` and the
    storage file beside it (``.ecz``). Files are moved into place only when complete."""
    data = spec.dataset()
    model, notes = compress_model(spec, point, seed=seed, progress=progress)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        work = Path(tmp)
        progress("exporting to ONNX", 0.5)
        fp32 = export_onnx(model, data.input_shape, work / "fp32.onnx")
        if point.bits < 32:
            progress("choosing the fastest runnable format (timed side by side)", 0.55)
        stored = pack(model, 16 if point.bits == 16 else 32)
        choice, storage_path = choose_and_store(fp32, point.bits, data, seed, stored, work, out_path, _metadata(point))
    return Artifact(
        onnx_path=out_path,
        runtime_format=choice.runtime_format,
        runtime_reason=choice.reason,
        params=count_parameters(model),
        storage_path=storage_path,
        storage_bytes=stored.size_bytes,
        storage_format=stored.description,
        macs=spec.baseline_macs,
        effective_macs=count_macs(model, data.input_shape, effective=True),
        notes=tuple(notes),
    )
