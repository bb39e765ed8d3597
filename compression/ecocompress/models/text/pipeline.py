"""Compressing the MiniLM sentence encoder: the techniques that make sense for a transformer.

- **student** (width < 1): fewer layers (1/2: 3 of 6, 1/4: 2, 1/8: 1), initialised from the
  teacher's evenly spaced layers, then trained to reproduce the teacher's embeddings (cosine loss);
- **structured sparsity**: that share of attention heads and feed-forward units removed per layer
  (lowest weight norm first), physically, then a short recovery on the teacher's embeddings;
- **unstructured sparsity**: global magnitude pruning of the linear layers, then the same recovery;
- **bits**: k-bit per-row weight grid for linear layers and the word embeddings (storage);
  the runnable format is chosen by timing: fp32, or onnxruntime dynamic int8 on MatMul (where
  dynamic quantization usually shines), or fp16 for 16 bits.
Recovery and distillation use only the 2,400 training sentences; agreement is measured on the other 600.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.knobs import refuse_unoffered
from ecocompress.models.text.encoder import HEAD_DIM, shape_of
from ecocompress.core.points import CompressionPoint
from ecocompress.compressor.techniques.kbit import best_scale, quantize_tensor
from ecocompress.compressor.training import torch_threads

RECOVERY_STEPS = 150
DISTILL_STEPS = 300
BATCH = 32
LAYERS_FOR_WIDTH = {1.0: 6, 0.5: 3, 0.25: 2, 0.125: 1}


OFFERED = {"student_width", "sparsity", "bits"}  # the knobs the text pipeline implements (fewer layers, heads, int8)


def check_point(point: CompressionPoint) -> None:
    if point.layer_settings or point.kept_units:
        raise InvalidParameterError(
            "Per-layer settings are not offered for the text model; use structured sparsity or a smaller student."
        )
    refuse_unoffered(point, OFFERED, lambda knob: (
        f"{knob.technique} is not offered for the text model; use structured sparsity (fewer heads and feed-forward "
        "units) or a student with fewer layers."))


def recover(student: nn.Module, ids: np.ndarray, targets: np.ndarray, steps: int, *, lr: float = 1e-4, seed: int = 0,
            progress=None) -> nn.Module:
    """Train ``student`` to reproduce ``targets`` (the teacher's embeddings) with a cosine loss."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    x, y = torch.from_numpy(ids), torch.from_numpy(targets)
    student.train()
    with torch_threads(1):
        for step in range(steps):
            batch = torch.randint(0, len(x), (BATCH,), generator=generator)
            loss = (1 - (student(x[batch]) * y[batch]).sum(-1)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if progress is not None and step % 20 == 0:
                progress(f"recovery step {step} of {steps} (1 - cosine {loss.item():.4f})", 0.2 + 0.25 * step / steps)
    return student.eval()


def fewer_layers(teacher: nn.Module, width: float) -> nn.Module:
    """A student with evenly spaced teacher layers (keeping the first and the last)."""
    keep = LAYERS_FOR_WIDTH[width]
    chosen = sorted({round(i * (len(teacher.layers) - 1) / max(1, keep - 1)) for i in range(keep)}) if keep > 1 else [5]
    student = copy.deepcopy(teacher)
    student.layers = nn.ModuleList(copy.deepcopy(teacher.layers[i]) for i in chosen)
    return student


def _slice(linear: nn.Linear, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> nn.Linear:
    w = linear.weight.data
    b = linear.bias.data
    if rows is not None:
        w, b = w[rows], b[rows]
    if cols is not None:
        w = w[:, cols]
    new = nn.Linear(w.shape[1], w.shape[0])
    new.weight.data, new.bias.data = w.clone(), b.clone()
    return new


def prune_heads_and_ffn(model: nn.Module, fraction: float) -> nn.Module:
    """Remove ``fraction`` of the heads and feed-forward units of every layer (lowest norm first)."""
    model = copy.deepcopy(model)
    for layer in model.layers:
        heads = layer.heads
        keep_heads = max(1, round(heads * (1 - fraction)))
        score = torch.stack([
            sum(m.weight.data[h * HEAD_DIM:(h + 1) * HEAD_DIM].norm() for m in (layer.query, layer.key, layer.value))
            + layer.attn_out.weight.data[:, h * HEAD_DIM:(h + 1) * HEAD_DIM].norm()
            for h in range(heads)
        ])
        kept = torch.sort(torch.topk(score, keep_heads).indices).values
        dims = torch.cat([torch.arange(h * HEAD_DIM, (h + 1) * HEAD_DIM) for h in kept.tolist()])
        layer.query, layer.key, layer.value = (_slice(m, rows=dims) for m in (layer.query, layer.key, layer.value))
        layer.attn_out = _slice(layer.attn_out, cols=dims)
        layer.heads = keep_heads
        units = layer.ffn_in.out_features
        keep_units = max(8, int(round(units * (1 - fraction) / 8)) * 8)
        unit_score = layer.ffn_in.weight.data.norm(dim=1) + layer.ffn_out.weight.data.norm(dim=0)
        kept_units = torch.sort(torch.topk(unit_score, keep_units).indices).values
        layer.ffn_in, layer.ffn_out = _slice(layer.ffn_in, rows=kept_units), _slice(layer.ffn_out, cols=kept_units)
    return model


def magnitude_prune_linear(model: nn.Module, sparsity: float) -> nn.Module:
    """Zero the smallest ``sparsity`` share of all linear weights (one global threshold)."""
    model = copy.deepcopy(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    magnitudes = torch.cat([m.weight.data.abs().flatten() for m in linears])
    threshold = torch.kthvalue(magnitudes, max(1, int(sparsity * magnitudes.numel()))).values
    for m in linears:
        m.weight.data[m.weight.data.abs() <= threshold] = 0.0
        m.register_buffer("prune_mask", m.weight.data != 0)
    return model


def quantize_text(model: nn.Module, bits: int) -> nn.Module:
    """Linear weights and word embeddings on a per-row symmetric k-bit grid (zeros stay zero)."""
    model = copy.deepcopy(model)
    for module in [m for m in model.modules() if isinstance(m, nn.Linear)] + [model.word]:
        weight = module.weight.data
        scale = best_scale(weight, bits)
        module.weight.data = quantize_tensor(weight, scale, bits) * (weight != 0)
        module.register_buffer("weight_scale", scale)
        module.weight_bits = bits
    return model


def _keep_masks(model: nn.Module) -> None:
    """After a recovery step, pruned weights are zero again (the mask is the point's sparsity)."""
    for m in model.modules():
        if hasattr(m, "prune_mask"):
            m.weight.data *= m.prune_mask


def compress_text(spec, point: CompressionPoint, *, seed: int = 0, progress=None) -> tuple[nn.Module, list[str]]:
    """Apply the point's steps to the MiniLM encoder in order: student, pruning (+ recovery), k-bit weights.

    Returns the compressed encoder (``spec.wrap`` puts a model's head back on)."""
    progress = progress or (lambda step, fraction: None)
    check_point(point)
    model, notes = spec.encoder(), []
    train = spec.dataset().x_train
    targets = spec.reference("train") if point.student_width != 1.0 or point.sparsity > 0 else None  # to recover on
    if point.student_width != 1.0:
        progress("building a student with fewer layers", 0.1)
        model = fewer_layers(model, point.student_width)
        model = recover(model, train, targets, DISTILL_STEPS, seed=seed, progress=progress)
        notes.append(f"student with {len(model.layers)} of 6 layers (teacher's layers as start), "
                     f"{DISTILL_STEPS} steps on the teacher's embeddings")
    if point.sparsity > 0:
        progress("pruning", 0.2)
        if point.structured:
            model = prune_heads_and_ffn(model, point.sparsity)
            heads, ffn = shape_of(model)
            notes.append(f"structured: {heads[0]} of 12 heads and {ffn[0]} of 1536 feed-forward units kept per layer")
        else:
            model = magnitude_prune_linear(model, point.sparsity)
            notes.append(f"global magnitude pruning of the linear layers to {point.sparsity:.0%} zeros")
        model = recover(model, train, targets, RECOVERY_STEPS, seed=seed, progress=progress)
        _keep_masks(model)
        notes.append(f"{RECOVERY_STEPS} recovery steps on the teacher's embeddings")
    if point.bits <= 8:
        progress("quantizing weights", 0.45)
        model = quantize_text(model, point.bits)
        notes.append(f"linear weights and word embeddings on a per-row {point.bits}-bit grid (post-training rounding)")
    elif point.bits == 16:
        model = model.half().float()
        notes.append("weights rounded to fp16")
    return model, notes


def _candidates(fp32: Path, bits: int, workdir: Path) -> dict[str, Path]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = {"onnxruntime fp32": fp32}
    if bits <= 8:
        quantize_dynamic(str(fp32), str(workdir / "dynamic.onnx"), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], per_channel=True)
        out["onnxruntime dynamic int8 (MatMul)"] = workdir / "dynamic.onnx"
    if bits == 16:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(workdir / "fp16.onnx"))
        out["onnxruntime fp16"] = workdir / "fp16.onnx"
    return out


def choose_text_runtime(fp32: Path, bits: int, check_ids: np.ndarray, check: tuple[str, float, Callable], workdir: Path):
    """The fastest variant whose ``check`` figure (what, allowed drop, outputs -> figure) stays within the allowed
    drop of the fp32 export's, on ``check_ids`` (training sentences)."""
    from ecocompress.measure.session import open_session, run_logits
    from ecocompress.compressor.runtime_choice import RuntimeChoice

    what, tolerance, figure = check
    variants = _candidates(fp32, bits, workdir)
    sessions = {k: open_session(p) for k, p in variants.items()}
    value = {k: figure(run_logits(s, check_ids, 64)) for k, s in sessions.items()}
    reference = value["onnxruntime fp32"]
    faithful = [k for k in variants if value[k] >= reference - tolerance]
    batch = check_ids[:BATCH]
    timings: dict[str, list[float]] = {k: [] for k in faithful}
    for _ in range(3):  # interleaved
        for k in faithful:
            name = sessions[k].get_inputs()[0].name
            started = time.perf_counter()
            sessions[k].run(None, {name: batch})
            timings[k].append(time.perf_counter() - started)
    latency = {k: statistics.median(v) for k, v in timings.items()}
    best = min(latency, key=latency.get)
    tried = ", ".join(f"{k.removeprefix('onnxruntime ')} {latency[k] / latency['onnxruntime fp32']:.2f}x" if k in latency
                      else f"{k.removeprefix('onnxruntime ')} rejected ({what} {value[k]:.4f} vs {reference:.4f})"
                      for k in variants)
    return RuntimeChoice(variants[best], best, f"fastest that keeps the {what} within {tolerance:g} of fp32's on "
                                               f"{len(check_ids)} training sentences, timed side by side at batch "
                                               f"{BATCH} (latency vs fp32: {tried})")


def build_text_artifact(spec, point: CompressionPoint, out_path: Path, *, seed: int = 0, progress=None):
    """Compress, export (token ids in, embedding out), choose the runtime, write the storage file."""
    from ecocompress.compressor.artifact import Artifact, move_into_place
    from ecocompress.compressor.export import export_onnx
    from ecocompress.compressor.storage import as_layer, pack
    from ecocompress.measure.locks import machine_measurement
    from ecocompress.measure.opcounts import count_operations

    progress = progress or (lambda step, fraction: None)
    encoder, notes = compress_text(spec, point, seed=seed, progress=progress)
    model = spec.wrap(encoder)
    data = spec.dataset()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        work = Path(tmp)
        progress("exporting to ONNX", 0.5)
        fp32 = export_onnx(model, data.input_shape, work / "fp32.onnx", input_dtype=torch.int64)
        counts = count_operations(fp32)
        progress("choosing the fastest runnable format (timed side by side)", 0.55)
        check = slice(0, 256)
        with machine_measurement():
            choice = choose_text_runtime(fp32, point.bits, data.x_train[check], spec.runtime_check(check), work)
        tensors = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.LayerNorm, nn.Embedding))]
        holder = nn.Sequential(*[  # every weight, bias and norm parameter the encoder needs
            as_layer(m.weight.data.numpy(), getattr(m, "weight_scale", None) if hasattr(m, "weight_bits") else None,
                      getattr(m, "weight_bits", None), None if getattr(m, "bias", None) is None else m.bias.data.numpy())
            for m in tensors
        ])
        stored = pack(holder, 16 if point.bits == 16 else 32)
        storage_path = move_into_place(choice.path, stored, work, out_path)
    params = sum(p.numel() for p in model.parameters())
    return Artifact(out_path, choice.runtime_format, choice.reason, params, storage_path, stored.size_bytes,
                    stored.description, spec.baseline_macs, counts.nonzero_macs, tuple(notes))


