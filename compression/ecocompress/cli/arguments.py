"""From the command line to values: the flags each command shares, read into points, settings and scales, and the
output paths checked before any work. Bad input is one sentence (``UsageError`` or the parameter template)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ecocompress.core.errors import EcoCompressError, InvalidParameterError, invalid_parameter
from ecocompress.core.files import refuse_link
from ecocompress.core.knobs import KNOBS


class UsageError(EcoCompressError):
    """A command line that argparse could not read."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors become one sentence and exit status 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message[0].upper()}{message[1:]}; run `{self.prog} --help` for usage.")


def number(name: str, text: str, kind: type) -> float | int:
    """Parse a numeric flag, with the same message template as every other bad setting."""
    try:
        return kind(text)
    except (TypeError, ValueError):
        allowed = "an int" if kind is int else "a number"
        raise invalid_parameter(name, allowed, text) from None


def point_flags(parser: argparse.ArgumentParser, *, chosen_by_default: bool = False) -> None:
    """One flag per knob (``--student``, ``--sparsity``, ``--rank``, ``--bits``: ``core.knobs``), and --structured."""
    tail = " (with no point flag: the lowest-energy point within --max-drop)" if chosen_by_default else ""
    for knob in KNOBS:
        parser.add_argument(f"--{knob.name}", default=None, help=knob.flag_help() + (tail if knob is KNOBS[0] else ""))
    parser.add_argument("--structured", action="store_true", help="prune whole channels/neurons instead of single weights")
    if chosen_by_default:
        parser.add_argument("--max-drop", default=1.0, help="accuracy budget in points for the chosen point (default 1.0)")


def knob_flags_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, knob.name) is not None for knob in KNOBS) or args.structured


def per_layer_flags(parser: argparse.ArgumentParser, *, with_budget: bool = True) -> None:
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


def per_layer_point(args: argparse.Namespace, model: str, progress, *, alone: bool = True):
    """With ``--per-layer auto``: the allocation's point (``service.layers.allocate_point``); else None.

    ``alone``: the command measures that point only, so the point flags must be left out.
    """
    if args.per_layer != "auto":
        return None
    if alone and knob_flags_given(args):
        raise InvalidParameterError("--per-layer auto chooses each layer's setting itself; leave out "
                                    f"{', '.join(f'--{knob.name}' for knob in KNOBS)} and --structured.")
    from ecocompress.service.layers import allocate_point

    point, allocation = allocate_point(model, objective=args.objective,
                                       max_accuracy_drop=number("max_accuracy_drop", args.max_accuracy_drop, float),
                                       progress=progress)
    from ecocompress.review.summary import per_layer_sentence

    print(f"per-layer settings: {per_layer_sentence(allocation)}", file=sys.stderr, flush=True)
    return point


def flag_point(args: argparse.Namespace, *, optional: bool = False):
    """The point the flags describe; None when ``optional`` and no point flag was given."""
    from ecocompress.core.points import CompressionPoint

    if optional and not knob_flags_given(args):
        return None
    given = {knob.field: number(knob.field, getattr(args, knob.name), knob.parse)
             for knob in KNOBS if getattr(args, knob.name) is not None}
    return CompressionPoint(**given, structured=args.structured)


def upload_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="with --model path/to/model.onnx: labeled evaluation data, .csv (features + label column) or .npz (x, y)")
    parser.add_argument("--label-column", default=None, help="name of the CSV label column (default: label)")
    parser.add_argument("--train", type=Path, default=None,
                        help="optional separate training data (else 30%% of --data is held out for evaluation)")


_HELD_UPLOADS: list = []


CLI_SESSION = "cli"  # the owner of the CLI's jobs and uploads in the compute queue and the store


def resolve_model(args: argparse.Namespace) -> str:
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


def measurement_flags(parser: argparse.ArgumentParser) -> None:
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


def scale_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inferences-per-day", default=10_000_000, help="your scale (default 10,000,000)")
    parser.add_argument("--price", default=0.15, help="electricity price per kWh (default 0.15)")
    parser.add_argument("--currency", default="USD", help="label for the price (default USD)")
    parser.add_argument("--pue", default=1.0, help="data-centre power usage effectiveness, [1, 5] (default 1.0)")
    parser.add_argument("--regions", default=None, help="comma-separated ISO codes to compare (default 8 grids)")


def footprint_flags(parser: argparse.ArgumentParser) -> None:
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


def footprint_inputs(args: argparse.Namespace):
    from ecocompress.review.footprint import FootprintInputs, functional_unit, with_hardware

    inputs = FootprintInputs(
        unit=functional_unit(args.functional_unit),
        market_factor_g_per_kwh=None if args.market_factor is None else number("market_factor_g_per_kwh",
                                                                                 args.market_factor, float),
        market_factor_kind=args.market_kind,
        wue_l_per_kwh=number("wue_l_per_kwh", args.wue, float),
        latency_target_ms=None if args.latency_target_ms is None else number("latency_target_ms",
                                                                               args.latency_target_ms, float),
    )
    edits = {name: number(name, value, kind) for name, value, kind in (
        ("embodied_kg", args.embodied_kg, float), ("lifetime_years", args.lifetime_years, float),
        ("cores", args.cores, int)) if value is not None}
    return with_hardware(inputs, args.hardware, **edits)


def measure_settings(args: argparse.Namespace):
    from ecocompress.core.grid import DEFAULT_COUNTRY
    from ecocompress.core.records import MeasureSettings
    from ecocompress.core.settings import measure_defaults

    def power(name: str, value: str | None) -> float | None:
        return None if value is None else number(name, value, float)

    return MeasureSettings(
        country=DEFAULT_COUNTRY if args.country is None else args.country,
        repeats=number("repeats", args.repeats, int),
        energy_budget_s=number("energy_budget_s", getattr(args, "energy_budget", measure_defaults().energy_budget_s), float),
        scenario=getattr(args, "scenario", "batch"),
        seeds=number("seeds", args.seeds, int),
        force_cpu_power_w=power("force_cpu_power_w", getattr(args, "cpu_power", None)),
        force_ram_power_w=power("force_ram_power_w", getattr(args, "ram_power", None)),
    )


def scale_of(args: argparse.Namespace):
    from ecocompress.review.projection import Scale

    return Scale(
        inferences_per_day=number("inferences_per_day", str(args.inferences_per_day).replace(",", "").replace("_", ""), float),
        country=Scale.country if args.country is None else args.country,
        price_per_kwh=number("price_per_kwh", args.price, float),
        currency=args.currency,
        pue=number("pue", args.pue, float),
    )


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
