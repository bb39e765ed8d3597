"""The ``ecocompress`` command: list models, measure a point, sweep a grid, project savings, report.

Bad input exits with status 2 and one plain sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

from ecocompress import __version__

from ecocompress.core import units
from ecocompress.core.choice import DEFAULT_BUDGET_POINTS
from ecocompress.core.errors import EcoCompressError, InvalidParameterError, invalid_parameter
from ecocompress.core.files import refuse_link, write_file
from ecocompress.core.records import Measurement, floor_words

EXIT_BAD_INPUT = 2


class UsageError(EcoCompressError):
    """A command line that argparse could not read."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors become one sentence and exit status 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message[0].upper()}{message[1:]}; run `{self.prog} --help` for usage.")


def _number(name: str, text: str, kind: type) -> float | int:
    """Parse a numeric flag, with the same message template as every other bad setting."""
    try:
        return kind(text)
    except (TypeError, ValueError):
        allowed = "an int" if kind is int else "a number"
        raise invalid_parameter(name, allowed, text) from None


def build_parser() -> Parser:
    parser = Parser(prog="ecocompress", description="Measure what model compression buys in energy and costs in accuracy.")
    parser.add_argument("--version", action="version", version=f"ecocompress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    models = sub.add_parser("models", help="list the built-in sample models")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

    run = sub.add_parser("run", help="compress one model at one setting and measure it")
    run.add_argument("--model", required=True, help="sample model name (see `ecocompress models`) or path/to/model.onnx")
    _upload_flags(run)
    _point_flags(run)
    _per_layer_flags(run)
    _measurement_flags(run)
    run.add_argument("--fresh", action="store_true", help="re-measure even if the store has this point")
    run.add_argument("--out", type=Path, default=None, help="also copy the compressed ONNX file into this folder")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    for name, text in (
        ("report", "write an HTML report (chart, chosen point vs baseline, projection, methods) and exports"),
        ("project", "project a point's energy, CO2e and cost to your scale and compare grid regions"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
        _upload_flags(cmd)
        _point_flags(cmd, chosen_by_default=True)
        _measurement_flags(cmd)
        _scale_flags(cmd)
        if name == "report":
            cmd.add_argument("--out", type=Path, required=True, help="HTML file to write, e.g. report.html")
            cmd.add_argument("--csv", type=Path, default=None, help="also write every measured point to this CSV file")
            cmd.add_argument("--pdf", type=Path, default=None, help="also print the report to this A4 PDF (needs Chromium)")
            cmd.add_argument("--artifacts", type=Path, default=None,
                             help="also copy the chosen point's ONNX, storage file and model card into this folder")
        else:
            cmd.add_argument("--json", action="store_true")
        _footprint_flags(cmd)

    search = sub.add_parser("search", help="find the lowest-cost point within an accuracy budget (Optuna study)")
    search.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    _upload_flags(search)
    search.add_argument("--max-accuracy-drop", default=DEFAULT_BUDGET_POINTS,
                        help=f"accuracy budget in points (default {DEFAULT_BUDGET_POINTS:g})")
    search.add_argument("--trials", default=20, help="new trials to run now (a study resumes where it stopped)")
    search.add_argument("--objective", default="energy", choices=["energy", "latency", "size"])
    search.add_argument("--storage", default=None,
                        help="database URL shared by workers on several machines, e.g. postgresql://user:pw@host/db "
                             "(default: a journal file under ECOCOMPRESS_HOME, shared by local processes)")
    search.add_argument("--study", default=None, help="study name (default ecocompress-MODEL-OBJECTIVE)")
    search.add_argument("--workers", default=1, help="local worker processes (default 1)")
    search.add_argument("--seed", default=0, help="sampler seed (default 0)")
    _per_layer_flags(search, with_budget=False)
    _measurement_flags(search)
    search.add_argument("--json", action="store_true")

    layers = sub.add_parser("layers", help="per weighted layer: parameters, MACs, modelled energy, measured time "
                                           "share and the quality lost when only that layer is pruned / quantized")
    layers.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    _upload_flags(layers)
    layers.add_argument("--sparsity", default=None, help="sparsity for the pruning sensitivity (default 0.5)")
    layers.add_argument("--bits", default=None, help="bits for the quantization sensitivity (default 4)")
    _measurement_flags(layers)
    layers.add_argument("--json", action="store_true")

    sweep = sub.add_parser("sweep", help="measure a grid of settings and print the Pareto-optimal points")
    sweep.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    _upload_flags(sweep)
    sweep.add_argument("--sparsity", default="0", help="comma-separated, e.g. 0,0.5,0.8,0.9")
    sweep.add_argument("--bits", default="32", help="comma-separated, e.g. 32,8,4")
    sweep.add_argument("--student", default="1", help="comma-separated, e.g. 1,0.5")
    sweep.add_argument("--rank", default=None, help="comma-separated rank ratios, e.g. 0.5,0.25")
    sweep.add_argument("--structured", action="store_true")
    _per_layer_flags(sweep)
    _measurement_flags(sweep)
    sweep.add_argument("--csv", type=Path, default=None, help="write every measured point to this CSV file")
    sweep.add_argument("--json", action="store_true")
    return parser


def _point_flags(parser: argparse.ArgumentParser, *, chosen_by_default: bool = False) -> None:
    tail = " (with no point flag: the lowest-energy point within --max-drop)" if chosen_by_default else ""
    from ecocompress.core.knobs import BITS, RANK, SPARSITY, STUDENT

    parser.add_argument("--sparsity", default=None, help=SPARSITY.flag_help() + tail)
    parser.add_argument("--bits", default=None, help=BITS.flag_help("32, uncompressed"))
    parser.add_argument("--student", default=None, help=STUDENT.flag_help("1, no distillation"))
    parser.add_argument("--structured", action="store_true", help="prune whole channels/neurons instead of single weights")
    parser.add_argument("--rank", default=None, help=RANK.flag_help())
    if chosen_by_default:
        parser.add_argument("--max-drop", default=1.0, help="accuracy budget in points for the chosen point (default 1.0)")


def _per_layer_flags(parser: argparse.ArgumentParser, *, with_budget: bool = True) -> None:
    parser.add_argument("--per-layer", default="off", choices=["off", "auto"],
                        help="auto: each layer gets its own setting, chosen from measured sensitivities within "
                             "--max-accuracy-drop (see --objective)")
    if with_budget:
        parser.add_argument("--objective", default="size", choices=["size", "energy"],
                            help="with --per-layer auto: what the choice minimises (size: the stored file, with "
                                 "sparsity and bits per layer; energy: the multiply-accumulates that run, with the "
                                 "channels, neurons and input features each layer keeps)")
        parser.add_argument("--max-accuracy-drop", default=0.2,
                            help="with --per-layer auto: accuracy budget in points (default 0.2)")


def _per_layer_point(args: argparse.Namespace, model: str, progress, *, alone: bool = True):
    """With ``--per-layer auto``: the allocation's point (``service.layers.allocate_point``); else None.

    ``alone``: the command measures that point only, so the point flags must be left out.
    """
    if args.per_layer != "auto":
        return None
    if alone and (any(v is not None for v in (args.sparsity, args.bits, args.student, args.rank)) or args.structured):
        raise InvalidParameterError("--per-layer auto chooses each layer's setting itself; "
                                    "leave out --sparsity, --bits, --student, --rank and --structured.")
    from ecocompress.service.layers import allocate_point

    point, allocation = allocate_point(model, objective=args.objective,
                                       max_accuracy_drop=_number("max_accuracy_drop", args.max_accuracy_drop, float),
                                       progress=progress)
    from ecocompress.review.summary import per_layer_sentence

    print(f"per-layer settings: {per_layer_sentence(allocation)}", file=sys.stderr, flush=True)
    return point


def _point(args: argparse.Namespace, *, optional: bool = False):
    """The point the flags describe; None when ``optional`` and no point flag was given."""
    from ecocompress.core.points import CompressionPoint

    given = [args.sparsity, args.bits, args.student, args.rank]
    if optional and all(v is None for v in given) and not args.structured:
        return None
    return CompressionPoint(
        sparsity=0.0 if args.sparsity is None else _number("sparsity", args.sparsity, float),
        bits=32 if args.bits is None else _number("bits", args.bits, int),
        student_width=1.0 if args.student is None else _number("student_width", args.student, float),
        structured=args.structured,
        rank_ratio=None if args.rank is None else _number("rank_ratio", args.rank, float),
    )


def _upload_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="with --model path/to/model.onnx: labeled evaluation data, .csv (features + label column) or .npz (x, y)")
    parser.add_argument("--label-column", default=None, help="name of the CSV label column (default: label)")
    parser.add_argument("--train", type=Path, default=None,
                        help="optional separate training data (else 30%% of --data is held out for evaluation)")


_HELD_UPLOADS: list = []
CLI_SESSION = "cli"  # the owner of the CLI's jobs and uploads in the compute queue and the store


def _resolve_model(args: argparse.Namespace) -> str:
    """A sample model's name, or an uploaded ONNX file checked and registered under a derived name."""
    looks_like_file = str(args.model).lower().endswith(".onnx") or Path(args.model).is_file()
    if args.data is None and not looks_like_file:
        return args.model
    if args.data is None:
        raise InvalidParameterError(f"{args.model!r} is a model file: give its labeled data with --data eval.csv (or .npz).")
    from ecocompress.core.files import read_regular_file
    from ecocompress.models.uploads import load_upload, max_upload_bytes

    def read(path: Path, what: str) -> bytes:
        """A regular file's bytes, its size checked before reading (a device or a FIFO is refused unread)."""
        return read_regular_file(path, limit=max_upload_bytes(), what=what)

    spec = load_upload(
        read(args.model, "model file"), Path(args.model).name, read(args.data, "data file"), Path(args.data).name,
        label_column=args.label_column,
        train_bytes=None if args.train is None else read(args.train, "training data file"),
        train_filename=None if args.train is None else Path(args.train).name, session=CLI_SESSION,
    )
    _HELD_UPLOADS.append(spec)  # reachable by name for the life of this command (``registry.hold_upload``)
    for warning in spec.warnings:
        print(f"note: {warning}", file=sys.stderr)
    print(f"model {spec.name}: {spec.data_note}", file=sys.stderr)
    return spec.name


def _measurement_flags(parser: argparse.ArgumentParser) -> None:
    from ecocompress.core.records import SCENARIOS, MeasureSettings
    from ecocompress.core.settings import measure_defaults

    defaults = measure_defaults()  # ECOCOMPRESS_ENERGY_BUDGET_S and _PAIRS, where the pages' sidebar starts too
    parser.add_argument("--country", default=None, help="3-letter ISO code of the grid for CO2e (default USA)")
    parser.add_argument("--repeats", default=defaults.repeats,
                        help=f"minimum baseline/point window pairs for energy (default {defaults.repeats})")
    parser.add_argument("--energy-budget", default=defaults.energy_budget_s,
                        help=f"seconds at most for the paired energy windows of one point (default {defaults.energy_budget_s:g})")
    parser.add_argument("--scenario", default=defaults.scenario, choices=list(SCENARIOS),
                        help=f"online: batch 1, one request at a time; batch: {MeasureSettings.batch_words()} (default)")
    parser.add_argument("--seeds", default=1, help="training seeds for points that train (default 1)")
    parser.add_argument("--cpu-power", default=None,
                        help="CPU power in W for CodeCarbon (force_cpu_power), e.g. your target server's; re-measures")
    parser.add_argument("--ram-power", default=None, help="RAM power in W for CodeCarbon (force_ram_power); re-measures")


def _scale_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inferences-per-day", default=10_000_000, help="your scale (default 10,000,000)")
    parser.add_argument("--price", default=0.15, help="electricity price per kWh (default 0.15)")
    parser.add_argument("--currency", default="USD", help="label for the price (default USD)")
    parser.add_argument("--pue", default=1.0, help="data-centre power usage effectiveness, [1, 5] (default 1.0)")
    parser.add_argument("--regions", default=None, help="comma-separated ISO codes to compare (default 8 grids)")


def _footprint_flags(parser: argparse.ArgumentParser) -> None:
    from ecocompress.review.footprint import DEFAULT_HARDWARE, DEFAULT_WUE_L_PER_KWH, HARDWARE, MARKET_KINDS, UNIT_FORMS

    parser.add_argument("--functional-unit", default="inference", help=f"SCI's R: {UNIT_FORMS} (default inference)")
    parser.add_argument("--market-factor", default=None,
                        help="contractual grid factor in gCO2e/kWh for the market-based Scope 2 figure (default: none)")
    parser.add_argument("--market-kind", default=MARKET_KINDS[0], choices=MARKET_KINDS,
                        help=f"what the market factor is (default {MARKET_KINDS[0]})")
    parser.add_argument("--hardware", default=DEFAULT_HARDWARE, choices=list(HARDWARE),
                        help=f"hardware class for embodied carbon and machines needed (default {DEFAULT_HARDWARE})")
    parser.add_argument("--embodied-kg", default=None, help="your hardware's embodied emissions, kgCO2e (default: the table's)")
    parser.add_argument("--lifetime-years", default=None, help="your hardware's expected lifetime (default: the table's)")
    parser.add_argument("--cores", default=None, help="your hardware's cores (default: the table's)")
    parser.add_argument("--latency-target-ms", default=None,
                        help="serve each request alone within this many ms (sizes the fleet by batch-1 latency; "
                             "default: throughput at the series' batch)")
    parser.add_argument("--wue", default=DEFAULT_WUE_L_PER_KWH,
                        help=f"on-site water usage effectiveness, L/kWh (default {DEFAULT_WUE_L_PER_KWH:g}, LBNL 2016)")


def _footprint_inputs(args: argparse.Namespace):
    from ecocompress.review.footprint import FootprintInputs, functional_unit, with_hardware

    inputs = FootprintInputs(
        unit=functional_unit(args.functional_unit),
        market_factor_g_per_kwh=None if args.market_factor is None else _number("market_factor_g_per_kwh",
                                                                                 args.market_factor, float),
        market_factor_kind=args.market_kind,
        wue_l_per_kwh=_number("wue_l_per_kwh", args.wue, float),
        latency_target_ms=None if args.latency_target_ms is None else _number("latency_target_ms",
                                                                               args.latency_target_ms, float),
    )
    edits = {name: _number(name, value, kind) for name, value, kind in (
        ("embodied_kg", args.embodied_kg, float), ("lifetime_years", args.lifetime_years, float),
        ("cores", args.cores, int)) if value is not None}
    return with_hardware(inputs, args.hardware, **edits)


def _settings(args: argparse.Namespace):
    from ecocompress.core.grid import DEFAULT_COUNTRY
    from ecocompress.core.records import MeasureSettings
    from ecocompress.core.settings import measure_defaults

    def power(name: str, value: str | None) -> float | None:
        return None if value is None else _number(name, value, float)

    return MeasureSettings(
        country=DEFAULT_COUNTRY if args.country is None else args.country,
        repeats=_number("repeats", args.repeats, int),
        energy_budget_s=_number("energy_budget_s", getattr(args, "energy_budget", measure_defaults().energy_budget_s), float),
        scenario=getattr(args, "scenario", "batch"),
        seeds=_number("seeds", args.seeds, int),
        force_cpu_power_w=power("force_cpu_power_w", getattr(args, "cpu_power", None)),
        force_ram_power_w=power("force_ram_power_w", getattr(args, "ram_power", None)),
    )


def _scale(args: argparse.Namespace):
    from ecocompress.review.projection import Scale

    return Scale(
        inferences_per_day=_number("inferences_per_day", str(args.inferences_per_day).replace(",", "").replace("_", ""), float),
        country=Scale.country if args.country is None else args.country,
        price_per_kwh=_number("price_per_kwh", args.price, float),
        currency=args.currency,
        pue=_number("pue", args.pue, float),
    )


def _report_data(args: argparse.Namespace, *, quiet: bool = False):
    from ecocompress.review.projection import DEFAULT_REGIONS
    from ecocompress.review.report import report_data

    def progress(step: str, _fraction: float) -> None:
        if not quiet:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    regions = DEFAULT_REGIONS if args.regions is None else tuple(c.strip() for c in args.regions.split(",") if c.strip())
    if not regions:
        raise invalid_parameter("regions", "a comma-separated list of 3-letter ISO codes, e.g. SWE,FRA", args.regions)
    footprint = _footprint_inputs(args)  # checked before anything is measured
    return report_data(
        _resolve_model(args),
        _point(args, optional=True),
        scale=_scale(args),
        footprint=footprint,
        settings=_settings(args),
        max_drop_points=_number("max_drop_points", args.max_drop, float),
        regions=regions,
        progress=progress,
    )


def cmd_models(args: argparse.Namespace) -> int:
    from ecocompress.models.registry import available_models

    rows = []
    for spec in available_models():
        card = spec.card()
        rows.append(
            {
                "model": spec.name,
                "title": spec.title,
                "task": spec.task,
                "params": spec.params,
                "baseline_accuracy": card.get("test_accuracy_torch"),
                "test_examples": card.get("test_examples"),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    name_w, task_w = (max(len(r[key]) for r in rows) for key in ("model", "task"))
    print(f"{'model':<{name_w}}  {'task':<{task_w}}  {'params':>10}  {'test accuracy':>18}")
    for r in rows:
        acc = "n/a" if r["baseline_accuracy"] is None else f"{units.percent(r['baseline_accuracy'])} (n={r['test_examples']:,})"
        print(f"{r['model']:<{name_w}}  {r['task']:<{task_w}}  {r['params']:>10,}  {acc:>18}")
    return 0


def format_measurement(m: Measurement) -> str:
    """A readable table of one point against the baseline."""
    rows = [
        ("accuracy", f"{units.percent(m.accuracy)} [{units.percent(m.accuracy_ci_low, 1)}, {units.percent(m.accuracy_ci_high, 1)}]",
         units.percent(m.baseline_accuracy), units.points_change(m.accuracy_change_points)),
        ("size on disk (runnable)", units.size(m.size_bytes), units.size(m.baseline_size_bytes), f"{units.ratio(m.compression_ratio)} smaller"),
        ("size stored (compressed)", units.size(m.storage_bytes), units.size(m.baseline_storage_bytes), f"{units.ratio(m.storage_ratio)} smaller"),
        ("latency, batch 1", units.latency_ms(m.latency_ms_batch1), "", "per call, median"),
        (f"latency, batch {m.large_batch_size}", units.latency_ms(m.latency_ms_per_item_large_batch), "",
         f"per item; paired: {m.change('time')}, "
         f"{units.ratio(m.speedup_theoretical)} speed-up on paper" + (" (gain only on paper)" if m.gain_only_on_paper else "")),
        ("energy / 1,000 inferences",
         f"{units.energy_wh(m.energy_wh_per_1k)} [{units.energy_wh(m.energy_wh_per_1k_ci_low)}, {units.energy_wh(m.energy_wh_per_1k_ci_high)}]",
         units.energy_wh(m.baseline_energy_wh_per_1k),
         f"{m.change()}; {floor_words(m)}" if not m.is_baseline
         else f"+/- {m.energy_ratio_half_width:.0%} (95%); {floor_words(m)}"),
        ("CO2e / 1,000 inferences", units.mass_g(m.emissions_g_per_1k), "", f"grid {m.country}, {m.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh"),
    ]
    lines = [
        f"{m.model}: {m.label}  (stored as {m.storage_format}; runs as {m.runtime_format}; {m.params:,} params)",
        f"{'':<26} {'this point':<30} {'baseline':<12} change",
    ]
    lines += [f"{name:<26} {value:<30} {base:<12} {note}" for name, value, base, note in rows]
    lines.append(
        f"energy method: {m.energy_method}; CPU {m.cpu_power_w:.1f} W, RAM {m.ram_power_w:.1f} W, "
        f"{m.energy_pairs} window pairs of {m.energy_window_s:.1f} s alternating with the baseline ({m.energy_seconds:.0f} s); "
        f"series: {m.series}"
    )
    lines.append(f"test set: {m.test_examples:,} examples; accuracy interval: 95% Wilson")
    if m.seeds > 1:
        lines.append(f"over {m.seeds} training seeds: accuracy {units.percent(m.accuracy_seed_mean)} +/- {m.accuracy_seed_std * 100:.2f} points (std)")
    if m.technique_notes:
        lines.append(f"what was done: {m.technique_notes}")
    lines.append(f"runtime choice: {m.runtime_format}, {m.runtime_reason}")
    if not m.is_baseline:
        from ecocompress.review.projection import Scale, payback

        lines.append(payback(m.to_dict(), Scale()).words)
    lines.append(f"artifact: {m.onnx_path}" + ("  (served from the results store)" if m.cached else ""))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from ecocompress.service.api import measure_point

    settings = _settings(args)

    def progress(step: str, _fraction: float) -> None:
        if not args.json:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    model = _resolve_model(args)
    point = _per_layer_point(args, model, progress) or _point(args)
    result = measure_point(model, point, settings, fresh=args.fresh, out_dir=args.out, progress=progress,
                           session=CLI_SESSION)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_measurement(result))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ecocompress.service.api import get_model
    from ecocompress.service.store import ResultsStore
    from ecocompress.service.sweep import estimate_seconds, grid, pareto_table, parse_values, run_sweep

    model = _resolve_model(args)
    get_model(model)
    points = grid(
        parse_values("sparsity", args.sparsity, float),
        parse_values("bits", args.bits, int),
        parse_values("student_width", args.student, float),
        structured=args.structured,
        ranks=[None] if args.rank is None else parse_values("rank_ratio", args.rank, float),
    )
    settings = _settings(args)
    per_layer = _per_layer_point(args, model, lambda step, _f: print(f"  ... {step}", file=sys.stderr, flush=True),
                                 alone=False)
    if per_layer is not None:
        points = [*points, per_layer]
    store = ResultsStore()
    new, seconds = estimate_seconds(model, points, settings, store)
    print(f"{len(points)} points, {new} not measured yet (about {seconds / 60:.0f} min)", file=sys.stderr, flush=True)

    def progress(index: int, total: int, point, step: str) -> None:
        print(f"  [{index + 1}/{total}] {point.label()}: {step}", file=sys.stderr, flush=True)

    results = list(run_sweep(model, points, settings, store=store, progress=progress))
    import pandas as pd

    frame = pd.DataFrame([r.to_dict() for r in results])
    if args.csv:
        write_file(args.csv, frame.to_csv(index=False))
    fronts = {cost: pareto_table(results, cost) for cost in ("energy_wh_per_1k", "storage_bytes")}
    if args.json:
        print(json.dumps({
            "points": [r.to_dict() for r in results],
            "pareto_energy": fronts["energy_wh_per_1k"]["label"].tolist(),
            "pareto_size": fronts["storage_bytes"]["label"].tolist(),
        }, indent=2))
        return 0
    columns = ["label", "accuracy", "energy_wh_per_1k", "storage_bytes", "speedup_measured", "runtime_format"]
    print(_table(frame[columns], "all points"))
    print(_table(fronts["energy_wh_per_1k"][columns], "Pareto-optimal: accuracy vs energy per 1,000 inferences"))
    print(_table(fronts["storage_bytes"][columns], "Pareto-optimal: accuracy vs storage size"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ecocompress.review.artifacts import export_artifacts
    from ecocompress.review.report import points_csv, render_html

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise invalid_parameter("out", "an .html file path", str(args.out))
    if args.pdf is not None and args.pdf.suffix.lower() != ".pdf":
        raise invalid_parameter("pdf", "a .pdf file path", str(args.pdf))
    data = _report_data(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(data)
    write_file(args.out, html)
    print(f"report: {args.out} (chosen point: {data.chosen['label']}; open it in any browser, it works offline)")
    if args.pdf is not None:
        from ecocompress.review.pdf import html_to_pdf

        args.pdf.parent.mkdir(parents=True, exist_ok=True)
        write_file(args.pdf, html_to_pdf(html))
        print(f"report as PDF: {args.pdf} (A4)")
    if args.csv:
        write_file(args.csv, points_csv(data.records))
        print(f"points: {args.csv} ({len(data.records)} rows)")
    if args.artifacts:
        for path in export_artifacts(data.chosen, args.artifacts):
            print(f"artifact: {path}")
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from ecocompress.measure.energy_model import PROFILES, modelled_for_file
    from ecocompress.review.footprint import footprint
    from ecocompress.review.projection import EQUIVALENTS, region_comparison

    data = _report_data(args, quiet=args.json)
    p, s, grid = data.projection, data.scale, data.scale.grid
    review = footprint(data.chosen, data.baseline, s, data.footprint)
    regions = region_comparison(data.chosen["energy_wh_per_1k"], s, data.regions)
    modelled = {
        key: {
            which: modelled_for_file(r["onnx_path"], r["bits"], key, data.table).wh_per_1k
            for which, r in (("baseline", data.baseline), ("chosen", data.chosen))
        }
        for key in PROFILES
    }
    if args.json:
        print(json.dumps({
            "model": data.model, "chosen": data.chosen["label"], "projection": p.to_dict(),
            "regions": [r.__dict__ for r in regions], "modelled_wh_per_1k": modelled, "footprint": review.to_dict(),
        }, indent=2))
        return 0
    print(f"{data.model}: chosen {data.chosen['label']} vs the uncompressed baseline, "
          f"{s.inferences_per_day:,.0f} inferences/day, PUE {s.pue:g}")
    print(f"grid {grid['country_name']} ({grid['iso_code']}): {grid['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh "
          f"({grid['year']}, {grid['source']}); price {s.price_per_kwh:g} {s.currency}/kWh")
    print(f"energy basis: {data.chosen['energy_method']}")
    print(f"{'per year':<12} {'baseline':>14} {'chosen':>14} {'saved':>14}")
    for name, key, fmt in (("energy", "kwh", units.energy_kwh), ("CO2e", "kg_co2e", units.co2e_kg),
                           ("cost", "cost", lambda v: units.money(v, s.currency))):
        print(f"{name:<12} {fmt(getattr(p.baseline, key)):>14} {fmt(getattr(p.point, key)):>14} {fmt(getattr(p.saved, key)):>14}")
    for eq in EQUIVALENTS:
        print(f"saved = {eq.of(p.saved):,.3g} {eq.unit} of {eq.name} (source: {eq.source})")
    _print_footprint(review)
    print("\nthe chosen point's CO2e per year by grid region (CodeCarbon data):")
    for r in regions:
        print(f"  {r.country_name + ' (' + r.iso_code + ', ' + str(r.year) + ')':<34} {r.carbon_intensity_g_per_kwh:>5.0f} g/kWh  "
              f"{units.co2e_kg(r.kg_co2e_per_year):>14}")
    print("\nmodelled energy per 1,000 inferences on target hardware (Horowitz 2014; not measured):")
    for key, values in modelled.items():
        print(f"  {PROFILES[key].name:<48} baseline {units.energy_wh(values['baseline']):>10}  "
              f"chosen {units.energy_wh(values['chosen']):>10}")
    return 0


def _print_footprint(f) -> None:
    """SCI per functional unit, Scope 2 both ways, embodied, water and the rating (``footprint.rows``)."""
    from ecocompress.review.footprint import notes, rows

    print("\nfor a sustainability review (SCI: ISO/IEC 21031; Scope 2: GHG Protocol), with 95% intervals:")
    for figure, base, point in rows(f):
        print(f"  {figure.strip()}: baseline {base}; chosen {point}")
    print(f"  {notes(f)}")


def _seed(text: str) -> int:
    seed = _number("seed", text, int)
    if not 0 <= seed < 2**32:
        raise invalid_parameter("seed", "an int in the range [0, 2**32)", seed)
    return seed


def cmd_search(args: argparse.Namespace) -> int:
    from ecocompress.core.objectives import OBJECTIVES
    from ecocompress.service.search import run_search

    model = _resolve_model(args)
    budget = _number("max_accuracy_drop", args.max_accuracy_drop, float)
    trials = _number("trials", args.trials, int)

    def progress(done: int, total: int, label: str) -> None:
        if not args.json:
            print(f"  trial {done}/{total}: {label}", file=sys.stderr, flush=True)

    result = run_search(
        model, max_drop_points=budget, trials=trials, objective=args.objective, storage_url=args.storage,
        study_name=args.study, workers=_number("workers", args.workers, int), seed=_seed(args.seed),
        settings=_settings(args), progress=progress, per_layer=args.per_layer == "auto",
    )
    rec = result.recommendation
    if args.json:
        print(json.dumps({
            "study": result.study_name, "finished_trials": result.finished_trials,
            "trials": [t.__dict__ for t in result.trials], "pareto": [t.label for t in result.pareto],
            "recommended": None if rec is None else {**rec.record.__dict__, "within_budget": rec.within_budget, "reason": rec.reason},
        }, indent=2))
        return 0
    objective = OBJECTIVES[args.objective]
    unit = objective.unit
    print(f"study {result.study_name}: {result.finished_trials} trials so far, {len(result.trials)} distinct points measured")
    print(f"\nPareto set (accuracy vs {unit}):")
    print(f"{'setting':<46} {'accuracy':>9} {'change':>8} {args.objective:>12}")
    for t in result.pareto:
        print(f"{t.label:<46} {units.percent(t.accuracy):>9} {-t.accuracy_drop_points + 0.0:>+8.2f} "
              f"{objective.text(t.cost):>12}")
    if rec is None:
        print("\nno trial completed yet")
    else:
        head = "recommended" if rec.within_budget else "CLOSEST (none within the budget)"
        print(f"\n{head}: {rec.record.label} ({units.percent(rec.record.accuracy)}, "
              f"{objective.text(rec.record.cost)}): {rec.reason}")
    return 0


def _table(frame, title: str) -> str:
    lines = [f"\n{title}", f"{'setting':<34} {'accuracy':>9} {'energy/1k':>11} {'storage':>9} {'speed-up':>8}  runs as"]
    for r in frame.itertuples():
        lines.append(
            f"{r.label:<34} {units.percent(r.accuracy):>9} {units.energy_wh(r.energy_wh_per_1k):>11} "
            f"{units.size(r.storage_bytes):>9} {units.ratio(r.speedup_measured):>8}  {r.runtime_format}"
        )
    return "\n".join(lines)


def cmd_layers(args: argparse.Namespace) -> int:
    from ecocompress.core.points import CompressionPoint
    from ecocompress.service.layers import layer_view

    point = CompressionPoint(
        sparsity=0.0 if args.sparsity is None else _number("sparsity", args.sparsity, float),
        bits=32 if args.bits is None else _number("bits", args.bits, int),
    )
    settings = _settings(args)

    def progress(step: str, _fraction: float) -> None:
        if not args.json:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    view = layer_view(_resolve_model(args), point, settings, progress=progress)
    if args.json:
        print(json.dumps(view.to_dict(), indent=2))
        return 0
    print(f"{view.model}: per weighted layer (uncompressed model, {view.scenario} scenario, batch {view.batch}); sensitivity = "
          f"change in {view.quality_metric} (points) with only that layer pruned to {view.sparsity:.0%} / on a "
          f"{view.bits}-bit grid, no fine-tune")
    print(f"{'layer':<16} {'type':<6} {'params':>9} {'MACs':>11} {'modelled dense CPU':>19} {'time':>6} "
          f"{'prune':>7} {'quantize':>8}")
    for r in view.rows:
        prune, quantize = r.sensitivity_points.get("prune"), r.sensitivity_points.get("quantize")
        print(f"{r.name[:16]:<16} {r.op_type:<6} {r.params:>9,} {r.macs:>11,} "
              f"{units.si(r.modelled_energy_pj['dense_cpu'] * 1e-12 / 3600, 'Wh'):>19} {r.time_share:>6.1%} "
              f"{'' if prune is None else f'{prune:+.2f}':>7} {'' if quantize is None else f'{quantize:+.2f}':>8}")
    print(f"rank correlation of measured time share and modelled dense-CPU energy: {view.rank_correlation:.2f}")
    return 0


COMMANDS = {
    "models": cmd_models, "run": cmd_run, "sweep": cmd_sweep, "search": cmd_search, "report": cmd_report,
    "project": cmd_project, "layers": cmd_layers,
}


WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR}


def check_outputs(args: argparse.Namespace) -> None:
    """Every path the command will write, checked before any work: a folder that can be made, a file whose
    folder can be made and that is not a folder itself."""
    folders = [p for p in (getattr(args, "out", None) if args.command == "run" else None, getattr(args, "artifacts", None)) if p]
    files = {flag: p for flag, p in (("out", getattr(args, "out", None) if args.command == "report" else None),
                                     ("csv", getattr(args, "csv", None)), ("pdf", getattr(args, "pdf", None))) if p}
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise invalid_parameter("out" if folder is getattr(args, "out", None) else "artifacts", "a folder", str(folder))
        _writable_folder(folder)
    for flag, file in files.items():
        refuse_link(file, flag)  # and the write itself replaces, never follows, a link planted later
        if file.is_dir():
            raise invalid_parameter(flag, "a file path, not a folder", str(file))
        _writable_folder(file.parent)


def _writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create the folder {str(folder)!r} ({exc.strerror}); choose a writable folder.") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"The folder {str(folder)!r} is not writable; choose a writable folder.")


def main(argv: Sequence[str] | None = None) -> int:
    from ecocompress.core.settings import settings

    try:
        settings()  # every ECOCOMPRESS_* setting validated before anything else: a bad one is one sentence
        args = build_parser().parse_args(argv)
        check_outputs(args)
        return COMMANDS[args.command](args)
    except EcoCompressError as exc:
        print(f"ecocompress: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ecocompress: interrupted; results measured so far are kept.", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a read-only or missing folder, a link loop: the user's to fix
        if exc.filename is None and exc.errno not in WRITE_ERRORS:
            return _internal_error(exc)
        print(f"ecocompress: cannot use {exc.filename or 'a file'} ({exc.strerror or type(exc).__name__}); free disk "
              "space or choose another path. Results stored before are intact.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug of ours: one sentence, the traceback only on request (ECOCOMPRESS_DEBUG=1)."""
    from ecocompress.core.settings import settings

    if settings().debug:
        traceback.print_exception(exc)
    print(f"ecocompress: internal error ({type(exc).__name__}: {exc}); set ECOCOMPRESS_DEBUG=1 for details and report it.",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
