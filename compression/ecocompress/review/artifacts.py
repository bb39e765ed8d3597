"""Hand out what produced a point: the runnable ONNX file, its compressed storage file, a model card.

The ONNX file is the very one that was measured (it runs in plain onnxruntime); the card says
how it was made, what was measured on it (with units and method) and how to run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecocompress.core.knobs import KNOBS
from ecocompress.models.registry import get_model
from ecocompress.review.comparison import comparison
from ecocompress.review.footprint import record_rating

CARD_FIELDS = (
    ("accuracy", "test accuracy (fraction)"),
    ("accuracy_ci_low", "95% Wilson interval, low"),
    ("accuracy_ci_high", "95% Wilson interval, high"),
    ("test_examples", "test examples"),
    ("baseline_accuracy", "uncompressed model's test accuracy"),
    ("size_bytes", "runnable ONNX file (bytes)"),
    ("storage_bytes", "compressed storage file (bytes)"),
    ("params", "parameters"),
    ("latency_ms_batch1", "latency per call at batch 1 (ms)"),
    ("latency_ms_per_item_large_batch", "latency per inference at the series' batch (ms)"),
    ("large_batch_size", "inferences per call in the series' batch"),
    ("energy_wh_per_1k", "energy per 1,000 inferences (Wh)"),
    ("emissions_g_per_1k", "CO2e per 1,000 inferences (g)"),
    ("carbon_intensity_g_per_kwh", "grid carbon intensity used (gCO2e/kWh)"),
)


def _stem(record: dict) -> str:
    from ecocompress.core.units import slug

    return f"{record['model']}-{slug(record['label'])}"


def input_signature(onnx_path: Path | str) -> dict[str, Any]:
    """Name, shape and element type of the model's input (symbolic batch shown as 'batch')."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    tensor = graph.input[0].type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else "batch" for d in tensor.shape.dim]
    return {"name": graph.input[0].name, "shape": shape, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name}


def model_card(record: dict) -> dict[str, Any]:
    """A small, self-describing card for the point in ``record`` (a stored Measurement)."""
    spec = get_model(record["model"])
    stem = _stem(record)
    return {
        "name": f"{record['model']}: {record['label']}",
        "base_model": spec.describe(),
        "compression": {
            **{knob.field: record.get(knob.field, knob.off) for knob in KNOBS},
            "structured": record["structured"],
            "steps": record["technique_notes"] or "none (the original model)",
            "per_layer": [{"layer": name, "sparsity": sparsity, "bits": bits}
                          for name, sparsity, bits in record.get("layer_settings") or ()],
            "kept_units": [{"layer": name, "kept": count} for name, count in record.get("kept_units") or ()],
        },
        "files": {
            "runnable": f"{stem}.onnx",
            "runs_as": record["runtime_format"],
            "storage": f"{stem}.ecz",
            "storage_format": record["storage_format"],
            "storage_note": "k-bit codes + scales + sparsity mask, LZMA; restore with ecocompress.compressor.storage.unpack",
        },
        "input": input_signature(record["onnx_path"]),
        "measured": {key: record[key] for key, _ in CARD_FIELDS},
        "units": dict(CARD_FIELDS),
        "against_baseline": [{"figure": r.figure, "value": r.value_with_interval, "baseline": r.baseline,
                              "change": r.change, "how": r.note} for r in comparison(record)],
        "quality_metric": record.get("quality_metric", "test accuracy"),
        "energy_method": record["energy_method"],
        "energy_estimated": record["energy_estimated"],
        "energy_rating": {"label": (r := record_rating(record)).label, "straddles_a_boundary": r.straddles,
                          "rule": r.rule},
        "grid_region": record["country"],
        "measured_at_utc": record["measured_at"],
        "code_version": record["code_version"],
        "model_hash": record["model_hash"],
    }


def card_markdown(card: dict[str, Any]) -> str:
    inp = card["input"]
    return "\n".join([
        f"# {card['name']}",
        "",
        f"Compressed from **{card['base_model']['title']}** ({card['base_model']['task']}) by ecocompress.",
        "",
        f"- Steps: {card['compression']['steps']}",
        *_per_layer_lines(card["compression"]["per_layer"], card["compression"]["kept_units"]),
        f"- Runs as: {card['files']['runs_as']} (`{card['files']['runnable']}`, plain onnxruntime)",
        f"- Stored as: {card['files']['storage_format']} (`{card['files']['storage']}`)",
        f"- Input: `{inp['name']}`, shape {inp['shape']}, {inp['dtype']}",
        "",
        "| figure | this model | uncompressed baseline | change |",
        "| --- | --- | --- | --- |",
        *(f"| {r['figure']} | {r['value']} | {r['baseline']} | {r['change']} |" for r in card["against_baseline"]),
        f"| energy rating | {card['energy_rating']['label']} ({card['energy_rating']['rule']}; judged on the 95% interval) | | |",
        "",
        *(f"- {r['figure']}: {r['how']}" for r in card["against_baseline"]),
        "",
        f"Measured {card['measured_at_utc']} UTC, code version {card['code_version']}.",
        "",
        "```python",
        "import numpy as np, onnxruntime as ort",
        f"session = ort.InferenceSession('{card['files']['runnable']}')",
        f"outputs = session.run(None, {{'{inp['name']}': x.astype(np.{inp['dtype']})}})[0]  # x: {inp['shape']}",
        "```",
        "",
    ])


def _per_layer_lines(layers: list[dict[str, Any]], kept: list[dict[str, Any]]) -> list[str]:
    lines = []
    if layers:
        lines.append("- Per layer: " + ", ".join(f"`{x['layer']}` {x['sparsity']:.0%} sparse, {x['bits']}-bit" for x in layers))
    if kept:
        lines.append("- Kept per layer (structured): " + ", ".join(
            f"{x['kept']:,} input features" if x["layer"] == "input" else f"`{x['layer']}` {x['kept']:,} units" for x in kept))
    return lines


def export_artifacts(record: dict, out_dir: Path | str) -> list[Path]:
    """Copy the point's ONNX and storage files into ``out_dir`` and write its card (JSON and Markdown)."""
    from ecocompress.core.files import copy_file, write_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _stem(record)
    written = [copy_file(record["onnx_path"], out / f"{stem}.onnx")]  # never through a link planted in ``out``
    if record.get("storage_path") and Path(record["storage_path"]).is_file():
        written.append(copy_file(record["storage_path"], out / f"{stem}.ecz"))
    card = model_card(record)
    written.append(write_file(out / f"{stem}.card.json", json.dumps(card, indent=2) + "\n"))
    written.append(write_file(out / f"{stem}.card.md", card_markdown(card)))
    return written
