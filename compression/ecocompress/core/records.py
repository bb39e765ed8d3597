"""The measured record of one compression point: flat, frozen, units in the field names."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ecocompress.core.grid import DEFAULT_COUNTRY, country_grid
from ecocompress.core.errors import invalid_parameter


@dataclass(frozen=True)
class MeasureSettings:
    """How a point is measured; part of the cache key because it changes the figures."""

    country: str = DEFAULT_COUNTRY
    repeats: int = 3
    energy_window_s: float = 2.0
    batch_size: int = 256
    ort_threads: int = 1
    force_cpu_power_w: float | None = None
    force_ram_power_w: float | None = None
    seeds: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", country_grid(self.country)["iso_code"])  # fails early, plainly
        checks = [
            ("repeats", isinstance(self.repeats, int) and 1 <= self.repeats <= 20, "an int in the range [1, 20]"),
            (
                "energy_window_s",
                isinstance(self.energy_window_s, (int, float)) and 0.5 <= self.energy_window_s <= 60,
                "a float in the range [0.5, 60] seconds",
            ),
            ("batch_size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096, "an int in the range [1, 4096]"),
            ("ort_threads", isinstance(self.ort_threads, int) and 1 <= self.ort_threads <= 64, "an int in the range [1, 64]"),
            ("seeds", isinstance(self.seeds, int) and 1 <= self.seeds <= 10, "an int in the range [1, 10]"),
        ]
        for name, ok, allowed in checks:
            if not ok or isinstance(getattr(self, name), bool):
                raise invalid_parameter(name, allowed, getattr(self, name))
        for name in ("force_cpu_power_w", "force_ram_power_w"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or not 0 < value <= 2000):
                raise invalid_parameter(name, "None or a power in watts in the range (0, 2000]", value)

    def key(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Measurement:
    """Everything measured for one point on its ONNX artifact in onnxruntime."""

    model: str
    label: str
    sparsity: float
    bits: int
    student_width: float
    structured: bool
    rank_ratio: float | None
    runtime_format: str
    runtime_reason: str
    technique_notes: str
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    test_examples: int
    baseline_accuracy: float
    accuracy_drop_points: float
    size_bytes: int
    baseline_size_bytes: int
    compression_ratio: float
    storage_bytes: int
    baseline_storage_bytes: int
    storage_ratio: float
    storage_format: str
    storage_path: str
    params: int
    macs: int
    effective_macs: int
    latency_ms_batch1: float
    latency_ms_batch1_p90: float
    latency_ms_per_item_large_batch: float
    latency_ms_per_item_large_batch_p90: float
    large_batch_size: int
    speedup_measured: float
    speedup_theoretical: float
    gain_only_on_paper: bool
    energy_wh_per_1k: float
    energy_wh_per_1k_spread: float
    energy_wh_per_1k_cv: float
    baseline_energy_wh_per_1k: float
    energy_ratio: float
    emissions_g_per_1k: float
    carbon_intensity_g_per_kwh: float
    country: str
    energy_method: str
    energy_estimated: bool
    energy_cpu_mode: str
    cpu_power_w: float
    ram_power_w: float
    energy_batch_size: int
    energy_window_s: float
    energy_repeats: int
    ort_threads: int
    onnx_path: str
    model_hash: str
    code_version: str
    measured_at: str
    seeds: int = 1
    accuracy_seed_mean: float | None = None
    accuracy_seed_std: float | None = None
    cached: bool = False
    quality_metric: str = "test accuracy"  # the text model: agreement with the original model
    fidelity_cosine: float | None = None  # the text model: mean cosine similarity to the original's embeddings
    fidelity_top1: float | None = None  # the text model: top-1 nearest-neighbour agreement

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
