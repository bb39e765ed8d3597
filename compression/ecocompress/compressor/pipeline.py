"""The torch pipeline: (trainable model, compression point) -> runnable ONNX artifact + compact storage file.

Steps, in this fixed order, each a pure function from model to model (``compressor.steps``, one module per
technique): distill (student width) -> prune (sparsity, structured or not) -> factorise (rank) ->
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
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.architectures import count_parameters
from ecocompress.compressor.artifact import Artifact, choose_and_store
from ecocompress.compressor.export import export_onnx
from ecocompress.compressor.steps import STEPS, StepContext
from ecocompress.compressor.storage import pack
from ecocompress.compressor.techniques.layers import conform_to_state_dict, count_macs
from ecocompress.compressor.training import steps_note, with_recovery_rule
from ecocompress.core.config import home_dir
from ecocompress.core.data import Dataset
from ecocompress.core.points import CompressionPoint
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.provenance import code_version
from ecocompress.core.recipes import TrainConfig


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
    """Apply the steps the point asks for (``compressor.steps.STEPS``, in order), reusing cached intermediate models.

    ``early_stop=False`` runs every fine-tune's whole recipe (``bench/fine_tune.py`` compares the two).
    """
    cache = model_cache()
    data = spec.dataset()
    model, notes, key = spec.load(), [], spec.content_hash
    original = model
    # The quick version (``fine_tuned=False``) skips every fine-tune and distils a student for one epoch only, over
    # at most QUICK_STUDENT_EXAMPLES (``steps.student.quick_subset``); its steps are cached under their own keys
    # (fine-tuned keys are unchanged).
    tune = spec.finetune_config(seed) if point.fine_tuned else replace(spec.finetune_config(seed), epochs=0)
    teach = spec.distill_config(seed) if point.fine_tuned else replace(spec.distill_config(seed), epochs=1)
    variant = {} if point.fine_tuned else {"quick": True}  # in the cache keys of steps built differently
    if not early_stop:
        variant["full_recipe"] = True
    # Fine-tunes stop once held-out accuracy is back (``with_recovery_rule``, set up at the first step not in the
    # cache that fine-tunes: holding images out copies the training set and scores the original on them);
    # distillation keeps every image.
    ctx = StepContext(spec, point, data, seed, tune, teach, data.x_train, data.y_train, fine_tune_ready=not early_stop)
    for step in STEPS:
        if not step.applies(point):
            continue
        title = step.title(point)
        if step.cached:
            key = step_key(key, title, seed=seed, **step.settings(point), **variant)
            hit = cache.get(key, spec)
            if hit is not None:
                model, notes = hit
                continue
            progress(title, step.fraction)
        if step.fine_tunes(point) and not ctx.fine_tune_ready:
            ctx.x_fit, ctx.y_fit, ctx.tune = with_recovery_rule(original, ctx.x_fit, ctx.y_fit, ctx.tune)
            ctx.fine_tune_ready = True
        runs_before = len(ctx.tune.stop.steps_run) if ctx.tune.stop else 0
        model, extra = step.transform(ctx, model)
        stopped = steps_note(ctx.tune.stop, runs_before) if ctx.tune.stop else None
        notes = notes + extra + ([stopped] if stopped else [])
        if step.cached:
            cache.put(key, model, notes, point.student_width)
    return model, notes


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
