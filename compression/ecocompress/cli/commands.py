"""One function per ``ecocompress`` command: it reads its flags (``arguments``), calls the service and prints."""

from __future__ import annotations

import argparse
import json
import sys

from ecocompress.cli.arguments import (
    CLI_SESSION, flag_point, footprint_inputs, measure_settings, number, per_layer_point, resolve_model, scale_of,
)
from ecocompress.core import units
from ecocompress.core.errors import invalid_parameter
from ecocompress.core.files import write_file
from ecocompress.core.knobs import KNOBS
from ecocompress.core.records import Measurement


def report_inputs(args: argparse.Namespace, *, quiet: bool = False):
    from ecocompress.review.projection import DEFAULT_REGIONS
    from ecocompress.review.report import report_data

    def progress(step: str, _fraction: float) -> None:
        if not quiet:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    regions = DEFAULT_REGIONS if args.regions is None else tuple(c.strip() for c in args.regions.split(",") if c.strip())
    if not regions:
        raise invalid_parameter("regions", "a comma-separated list of 3-letter ISO codes, e.g. SWE,FRA", args.regions)
    footprint = footprint_inputs(args)  # checked before anything is measured
    return report_data(
        resolve_model(args),
        flag_point(args, optional=True),
        scale=scale_of(args),
        footprint=footprint,
        settings=measure_settings(args),
        max_drop_points=number("max_drop_points", args.max_drop, float),
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
    """A readable table of one point against the baseline (``review.comparison``, as every surface shows it)."""
    from ecocompress.review.comparison import comparison

    rows = comparison(m)
    lines = [
        f"{m.model}: {m.label}  (stored as {m.storage_format}; runs as {m.runtime_format}; {m.params:,} params)",
        f"{'':<34} {'this point':<36} {'baseline':<12} change",
    ]
    lines += [f"{r.figure:<34} {r.value_with_interval:<36} {r.baseline:<12} {r.change}".rstrip() for r in rows]
    lines += [f"  {r.figure}: {r.note}" for r in rows]
    lines.append(f"energy method: {m.energy_method}; CPU {m.cpu_power_w:.1f} W, RAM {m.ram_power_w:.1f} W over "
                 f"{m.energy_seconds:.0f} s of windows; series: {m.series}")
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

    settings = measure_settings(args)

    def progress(step: str, _fraction: float) -> None:
        if not args.json:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    if args.on is not None:
        result = _run_on(args, settings, progress)
    else:
        if args.store is not None:
            fleet_environment(args.store, None)  # measured here, stored in the shared store
        model = resolve_model(args)
        point = per_layer_point(args, model, progress) or flag_point(args)
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

    model = resolve_model(args)
    get_model(model)
    points = grid({knob.field: parse_values(knob.field, getattr(args, knob.name), knob.parse)
                   for knob in KNOBS if getattr(args, knob.name) is not None}, structured=args.structured)
    settings = measure_settings(args)
    per_layer = per_layer_point(args, model, lambda step, _f: print(f"  ... {step}", file=sys.stderr, flush=True),
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
    data = report_inputs(args)
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

    data = report_inputs(args, quiet=args.json)
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
    seed = number("seed", text, int)
    if not 0 <= seed < 2**32:
        raise invalid_parameter("seed", "an int in the range [0, 2**32)", seed)
    return seed


def cmd_search(args: argparse.Namespace) -> int:
    from ecocompress.core.objectives import OBJECTIVES
    from ecocompress.service.search import run_search

    model = resolve_model(args)
    budget = number("max_accuracy_drop", args.max_accuracy_drop, float)
    trials = number("trials", args.trials, int)

    def progress(done: int, total: int, label: str) -> None:
        if not args.json:
            print(f"  trial {done}/{total}: {label}", file=sys.stderr, flush=True)

    result = run_search(
        model, max_drop_points=budget, trials=trials, objective=args.objective, storage_url=args.storage,
        study_name=args.study, workers=number("workers", args.workers, int), seed=_seed(args.seed),
        settings=measure_settings(args), progress=progress, per_layer=args.per_layer == "auto",
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
        sparsity=0.0 if args.sparsity is None else number("sparsity", args.sparsity, float),
        bits=32 if args.bits is None else number("bits", args.bits, int),
    )
    settings = measure_settings(args)

    def progress(step: str, _fraction: float) -> None:
        if not args.json:
            print(f"  ... {step}", file=sys.stderr, flush=True)

    view = layer_view(resolve_model(args), point, settings, progress=progress)
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


def fleet_environment(store: str | None, label: str | None) -> str:
    """Make this process (and its sandboxed children) use the shared store ``store`` as the hardware class ``label``;
    the store's URL, checked like every setting."""
    from ecocompress.core.settings import set_for_this_process

    given = {name: value for name, value in (("store_url", store), ("hardware_label", label)) if value is not None}
    url = set_for_this_process(**given).store_url  # checked like every setting: a bad URL or label is one sentence
    if url is None:
        raise invalid_parameter("store", "a postgresql:// URL (--store or ECOCOMPRESS_STORE_URL): workers and "
                                "requests meet in a shared store", None)
    return url


def _run_on(args: argparse.Namespace, settings, progress) -> Measurement:
    """``run --on LABEL``: the point as a worker of that hardware class measures it (``service.fleet``)."""
    from ecocompress.service.fleet import request_on

    if args.data is not None or args.per_layer != "off" or args.fresh or args.out is not None:
        raise invalid_parameter("on", "used with a sample model and point flags only (not --data, --per-layer, "
                                "--fresh or --out)", args.on)
    url = fleet_environment(args.store, args.on)
    return request_on(args.model, flag_point(args), settings, args.on, url, progress=lambda text: progress(text, 0.0))


def cmd_worker(args: argparse.Namespace) -> int:
    from ecocompress.core.provenance import hardware
    from ecocompress.service.fleet import run_worker

    url = fleet_environment(args.store, args.hardware_label)
    from ecocompress.core.settings import settings

    if settings().hardware_label is None:  # requests name a class by its label: a CPU's name is not one
        raise invalid_parameter("hardware-label", "a name for this machine's hardware class, e.g. edge-arm64 "
                                "(--hardware-label or ECOCOMPRESS_HARDWARE_LABEL)", None)
    label = hardware()
    print(f"measuring for hardware class {label!r}; stop with Ctrl+C", file=sys.stderr, flush=True)
    run_worker(url, label)
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ecocompress.service.fleet import status

    classes = status(fleet_environment(args.store, None))
    if args.json:
        print(json.dumps([asdict(c) for c in classes], indent=2))
        return 0
    if not classes:
        print("No worker has joined this store yet: start one with `ecocompress worker --hardware-label NAME`.")
    for c in classes:
        machines = sorted({f"{m['cpu_model']}, {m['cpu_count']} cores, {m['memory']}, {m['os']}" for m in c.alive})
        print(f"{c.label}: {len(c.alive)} worker{'' if len(c.alive) == 1 else 's'} alive"
              + (f" on {'; '.join(machines)}" if machines else "") + f"; {c.queued} queued, {c.running} running")
        if not c.alive:
            print("  a new point waits until a worker of this class starts")
        elif c.seconds_per_point is None:
            print("  no point finished yet: the wait cannot be estimated")
        else:
            print(f"  a new point: about {units.duration(c.wait_s + c.seconds_per_point)} (estimated: the points "
                  f"ahead x the median {units.duration(c.seconds_per_point)} of its last finished points)")
    return 0


COMMANDS = {
    "fleet": cmd_fleet,
    "worker": cmd_worker,
    "models": cmd_models, "run": cmd_run, "sweep": cmd_sweep, "search": cmd_search, "report": cmd_report,
    "project": cmd_project, "layers": cmd_layers,
}
