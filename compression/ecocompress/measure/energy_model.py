"""Modelled energy on target hardware, from operation counts: labelled "modelled", never "measured".

A dense CPU kernel multiplies every weight, zeros included, and has no 3-bit arithmetic, so
what we *measure* cannot show what sparsity and low bit-widths would buy on hardware built for
them. This module estimates it the way the compression literature does (Han et al., Deep
Compression; EIE): energy = multiply-accumulates x energy per operation at the arithmetic's
bit-width + bits moved x energy per bit, with per-operation energies from

    M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
    45 nm process at 0.9 V.

The assumptions are stated with every result (``ModelledEnergy.lines``) so a reviewer can redo
the arithmetic by hand; the table is a frozen dataclass that callers may replace field by field.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ecocompress.core import units
from ecocompress.core.errors import invalid_parameter
from ecocompress.measure.opcounts import LayerCount, OpCounts, count_operations

PJ_PER_WH = 3.6e15
SOURCE = "Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm, 0.9 V)"


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation and per memory access in picojoules (Horowitz, ISSCC 2014)."""

    int8_add_pj: float = 0.03
    int32_add_pj: float = 0.1
    fp16_add_pj: float = 0.4
    fp32_add_pj: float = 0.9
    int8_mult_pj: float = 0.2
    int32_mult_pj: float = 3.1
    fp16_mult_pj: float = 1.1
    fp32_mult_pj: float = 3.7
    sram_pj_per_64bit: float = 10.0  # 8 KB cache, 64-bit access
    dram_pj_per_64bit: float = 1300.0  # DRAM, 64-bit access: low end of Horowitz's 1.3-2.6 nJ
    sparse_index_bits: int = 4  # relative index stored with each non-zero weight (as in Deep Compression)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1e6:
                raise invalid_parameter(field.name, "a non-negative number of at most 1e6", value)

    def mac_pj(self, arithmetic: str) -> tuple[float, str]:
        """Energy of one multiply-accumulate and how it was obtained."""
        if arithmetic == "fp32":
            return self.fp32_mult_pj + self.fp32_add_pj, f"fp32 mult {self.fp32_mult_pj} + fp32 add {self.fp32_add_pj}"
        if arithmetic == "fp16":
            return self.fp16_mult_pj + self.fp16_add_pj, f"fp16 mult {self.fp16_mult_pj} + fp16 add {self.fp16_add_pj}"
        bits = int(arithmetic.removeprefix("int"))
        if bits == 8:
            return self.int8_mult_pj + self.int32_add_pj, f"int8 mult {self.int8_mult_pj} + int32 accumulate {self.int32_add_pj}"
        # A k-bit weight times an 8-bit activation: an array multiplier's energy grows with the
        # product of the operand widths, so k x 8 bits costs k/8 of an 8 x 8 multiply (scaled, not in the table).
        mult = self.int8_mult_pj * bits / 8
        return mult + self.int32_add_pj, (
            f"int{bits}xint8 mult {units.number(mult, 4)} (= int8 {self.int8_mult_pj} x {bits}/8, scaled) + int32 accumulate {self.int32_add_pj}"
        )


@dataclass(frozen=True)
class HardwareProfile:
    key: str
    name: str
    description: str
    skips_zeros: bool  # multiplies only non-zero weights and stores only those (plus an index)
    narrowest_int_bits: int | None  # narrowest integer arithmetic it has; None: as the ONNX file stores


PROFILES = {
    "dense_cpu": HardwareProfile(
        "dense_cpu",
        "dense CPU (what we measured)",
        "every weight is multiplied, zeros included, in the precision the runnable ONNX file stores "
        "(fp32, fp16 or int8); k-bit weights run as int8 or fp32",
        skips_zeros=False,
        narrowest_int_bits=None,
    ),
    "int8_accelerator": HardwareProfile(
        "int8_accelerator",
        "int8 accelerator",
        "dense int8 arithmetic for points of 8 bits or fewer (k-bit weights widened to 8 bits), "
        "fp16/fp32 units otherwise; zeros are multiplied",
        skips_zeros=False,
        narrowest_int_bits=8,
    ),
    "sparse_accelerator": HardwareProfile(
        "sparse_accelerator",
        "sparse-capable low-bit accelerator (EIE-like)",
        "skips zero weights, stores non-zeros with a small index, and computes at the point's own "
        "bit-width (2-8 bits)",
        skips_zeros=True,
        narrowest_int_bits=2,
    ),
}


@dataclass(frozen=True)
class ModelledEnergy:
    profile: str
    compute_pj: float
    weights_pj: float
    activations_pj: float
    lines: tuple[str, ...]  # the arithmetic, line by line, for a reviewer to check

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.weights_pj + self.activations_pj

    @property
    def wh_per_1k(self) -> float:
        return self.total_pj * 1000.0 / PJ_PER_WH


def _stored_arithmetic(layer: LayerCount) -> str:
    return {"float16": "fp16", "int8": "int8", "uint8": "int8"}.get(layer.weight_dtype, "fp32")


def _arithmetic(layer: LayerCount, bits: int, profile: HardwareProfile) -> str:
    """The arithmetic a layer runs in on ``profile`` for a point stored at ``bits``."""
    if profile.narrowest_int_bits is None:
        return _stored_arithmetic(layer)
    if bits <= 8:
        return f"int{max(bits, profile.narrowest_int_bits)}"
    return "fp16" if bits == 16 else "fp32"


def _bits_of(arithmetic: str) -> int:
    return 32 if arithmetic == "fp32" else 16 if arithmetic == "fp16" else int(arithmetic.removeprefix("int"))


def modelled_energy(
    counts: OpCounts, bits: int, profile: str = "dense_cpu", table: EnergyTable | None = None
) -> ModelledEnergy:
    """Energy of one inference (batch 1) of a model with ``counts``, stored at ``bits``, on ``profile``.

    compute = multiply-accumulates x energy per MAC at the layer's arithmetic;
    weights = weight bits read once per inference from DRAM (no reuse across a batch);
    activations = (input + output elements) x activation bits, through an 8 KB SRAM.
    """
    if profile not in PROFILES:
        raise invalid_parameter("profile", f"one of {sorted(PROFILES)}", profile)
    hw, table = PROFILES[profile], table or EnergyTable()
    sram_bit, dram_bit = table.sram_pj_per_64bit / 64, table.dram_pj_per_64bit / 64
    macs: dict[str, int] = defaultdict(int)
    weight_bits = act_bits = 0
    for layer in counts.layers:
        arithmetic = _arithmetic(layer, bits, hw)
        width = _bits_of(arithmetic)
        dense_bits = layer.weights * width
        if hw.skips_zeros:
            macs[arithmetic] += layer.nonzero_macs
            weight_bits += min(dense_bits, layer.nonzero_weights * (width + table.sparse_index_bits))
        else:
            macs[arithmetic] += layer.macs
            weight_bits += dense_bits
        act_width = 8 if arithmetic.startswith("int") else width  # integer layers keep 8-bit activations
        act_bits += (layer.input_elements + layer.output_elements) * act_width
    lines = [f"profile: {hw.name}: {hw.description}", f"energies per operation: {SOURCE}"]
    compute = 0.0
    for arithmetic, n in sorted(macs.items()):
        per_mac, how = table.mac_pj(arithmetic)
        compute += n * per_mac
        lines.append(f"compute ({arithmetic}): {n:,} MACs x {units.number(per_mac, 4)} pJ ({how}) = {n * per_mac:,.1f} pJ")
    weights_pj, acts_pj = weight_bits * dram_bit, act_bits * sram_bit
    lines.append(
        f"weights: {weight_bits:,} bits read once from DRAM x {units.number(dram_bit, 4)} pJ/bit "
        f"({table.dram_pj_per_64bit:g} pJ per 64 bits) = {weights_pj:,.1f} pJ"
        + (f" (non-zeros only, each with a {table.sparse_index_bits}-bit index where that is smaller)" if hw.skips_zeros else "")
    )
    lines.append(
        f"activations: {act_bits:,} bits through SRAM x {units.number(sram_bit, 4)} pJ/bit "
        f"({table.sram_pj_per_64bit:g} pJ per 64 bits) = {acts_pj:,.1f} pJ"
    )
    total = compute + weights_pj + acts_pj
    lines.append(
        f"total: {compute:,.1f} + {weights_pj:,.1f} + {acts_pj:,.1f} = {total:,.1f} pJ per inference "
        f"= {units.energy_wh(total * 1000 / PJ_PER_WH)} per 1,000 inferences"
    )
    return ModelledEnergy(profile, compute, weights_pj, acts_pj, tuple(lines))


def modelled_for_file(path: Path | str, bits: int, profile: str = "dense_cpu", table: EnergyTable | None = None) -> ModelledEnergy:
    return modelled_energy(count_operations(path), bits, profile, table)


def with_modelled(records: list[dict], profile: str, table: EnergyTable | None = None) -> list[dict]:
    """Records with ``modelled_wh_per_1k`` added (for the chart's modelled x axis)."""
    return [
        {**r, "modelled_wh_per_1k": modelled_for_file(r["onnx_path"], int(r["bits"]), profile, table).wh_per_1k}
        for r in records
        if Path(r["onnx_path"]).is_file()
    ]
