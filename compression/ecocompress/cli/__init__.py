"""The ``ecocompress`` command: list models, measure a point, sweep a grid, project savings, report.

Bad input exits with status 2 and one plain sentence on stderr, never a traceback.
"""

from __future__ import annotations

import errno
import sys
import traceback
from pathlib import Path
from typing import Sequence

from ecocompress import __version__
from ecocompress.cli.arguments import (
    Parser, UsageError, check_outputs, footprint_flags, measurement_flags, per_layer_flags, point_flags, scale_flags,
    upload_flags,
)
from ecocompress.cli.commands import COMMANDS, format_measurement
from ecocompress.core.choice import DEFAULT_BUDGET_POINTS
from ecocompress.core.errors import EcoCompressError
from ecocompress.core.knobs import KNOBS

__all__ = ["EXIT_BAD_INPUT", "UsageError", "build_parser", "format_measurement", "main"]

EXIT_BAD_INPUT = 2


def build_parser() -> Parser:
    parser = Parser(prog="ecocompress", description="Measure what model compression buys in energy and costs in accuracy.")
    parser.add_argument("--version", action="version", version=f"ecocompress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    models = sub.add_parser("models", help="list the built-in sample models")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

    run = sub.add_parser("run", help="compress one model at one setting and measure it")
    run.add_argument("--model", required=True, help="sample model name (see `ecocompress models`) or path/to/model.onnx")
    upload_flags(run)
    point_flags(run)
    per_layer_flags(run)
    measurement_flags(run)
    run.add_argument("--fresh", action="store_true", help="re-measure even if the store has this point")
    run.add_argument("--out", type=Path, default=None, help="also copy the compressed ONNX file into this folder")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    run.add_argument("--store", default=None, help="with --on: the shared store's postgresql:// URL "
                     "(default: ECOCOMPRESS_STORE_URL)")
    run.add_argument("--on", default=None, metavar="LABEL", help="have a worker of this hardware class measure it "
                     "(`ecocompress worker --hardware-label LABEL`), or serve that class's stored figure")

    fleet = sub.add_parser("fleet", help="which measurement workers are alive, on what machines, and the wait for a "
                           "new point per hardware class")
    fleet.add_argument("--store", default=None, help="the shared store's postgresql:// URL (default: "
                       "ECOCOMPRESS_STORE_URL)")
    fleet.add_argument("--json", action="store_true", help="print JSON instead of a table")

    worker = sub.add_parser("worker", help="measure the points asked for this machine's hardware class, one at a time")
    worker.add_argument("--store", default=None, help="the shared store's postgresql:// URL (default: "
                        "ECOCOMPRESS_STORE_URL)")
    worker.add_argument("--hardware-label", default=None, help="the hardware class this machine measures for, e.g. "
                        "'edge-arm64' (default: ECOCOMPRESS_HARDWARE_LABEL, else the CPU model and cores)")

    for name, text in (
        ("report", "write an HTML report (chart, chosen point vs baseline, projection, methods) and exports"),
        ("project", "project a point's energy, CO2e and cost to your scale and compare grid regions"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
        upload_flags(cmd)
        point_flags(cmd, chosen_by_default=True)
        measurement_flags(cmd)
        scale_flags(cmd)
        if name == "report":
            cmd.add_argument("--out", type=Path, required=True, help="HTML file to write, e.g. report.html")
            cmd.add_argument("--csv", type=Path, default=None, help="also write every measured point to this CSV file")
            cmd.add_argument("--pdf", type=Path, default=None, help="also print the report to this A4 PDF (needs Chromium)")
            cmd.add_argument("--artifacts", type=Path, default=None,
                             help="also copy the chosen point's ONNX, storage file and model card into this folder")
        else:
            cmd.add_argument("--json", action="store_true")
        footprint_flags(cmd)

    search = sub.add_parser("search", help="find the lowest-cost point within an accuracy budget (Optuna study)")
    search.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    upload_flags(search)
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
    per_layer_flags(search, with_budget=False)
    measurement_flags(search)
    search.add_argument("--json", action="store_true")

    layers = sub.add_parser("layers", help="per weighted layer: parameters, MACs, modelled energy, measured time "
                                           "share and the quality lost when only that layer is pruned / quantized")
    layers.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    upload_flags(layers)
    layers.add_argument("--sparsity", default=None, help="sparsity for the pruning sensitivity (default 0.5)")
    layers.add_argument("--bits", default=None, help="bits for the quantization sensitivity (default 4)")
    measurement_flags(layers)
    layers.add_argument("--json", action="store_true")

    sweep = sub.add_parser("sweep", help="measure a grid of settings and print the Pareto-optimal points")
    sweep.add_argument("--model", required=True, help="sample model name or path/to/model.onnx (with --data)")
    upload_flags(sweep)
    for knob in KNOBS:
        example = ",".join(f"{v:g}" for v in (knob.swept or knob.searched))
        sweep.add_argument(f"--{knob.name}", default=None,
                           help=f"{knob.label}: comma-separated values, e.g. {example} (default {knob.default:g})".replace("%", "%%"))
    sweep.add_argument("--structured", action="store_true")
    per_layer_flags(sweep)
    measurement_flags(sweep)
    sweep.add_argument("--csv", type=Path, default=None, help="write every measured point to this CSV file")
    sweep.add_argument("--json", action="store_true")
    return parser


WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR}


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
