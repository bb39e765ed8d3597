"""Shared view pieces: the measurement sidebar, metric cards, method badge, errors."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import pandas as pd
import streamlit as st

from ecocompress.service import api

from ecocompress.review import plots, summary, tables
from ecocompress.review.comparison import comparison
from ecocompress.core.choice import DEFAULT_BUDGET_POINTS, recommend

from ecocompress.core import units
from ecocompress.core.grid import country_choices, country_grid
from ecocompress.core.errors import EcoCompressError, failure_sentence
from ecocompress.core.recipes import QUICK_STUDENT_EXAMPLES
from ecocompress.core.records import SCENARIOS, MeasureSettings, Measurement, NOT_ENOUGH, readable
from pages.ui import state


def measurement_sidebar() -> None:
    """Grid region and repeat count: they change the measurement, so they live beside it."""
    with st.sidebar:
        st.subheader("Measurement settings")
        codes = [code for code, _ in country_choices()]
        names = dict(country_choices())
        st.selectbox(
            "Grid region (for CO2e)",
            codes,
            key=state.COUNTRY,
            format_func=lambda c: f"{names[c]} ({c})",
            help="Carbon intensity of electricity from CodeCarbon's bundled data; changes CO2e, not energy.",
        )
        grid = country_grid(st.session_state[state.COUNTRY])
        st.caption(f"{grid['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh ({grid['year']}, {grid['source']}).")
        st.radio(
            "Deployment scenario",
            list(SCENARIOS),
            key=state.SCENARIO,
            format_func=lambda s: SCENARIOS[s],
            help=f"Online serves one request per call (batch 1); batch groups many requests in one call "
            f"({MeasureSettings.batch_words()}). The best point can "
            "differ between them. Points of one scenario are never mixed with the other's on a chart.",
        )
        st.number_input(
            "Minimum measurement pairs",
            min_value=state.MEASURE_RANGES[state.REPEATS][0],
            max_value=state.MEASURE_RANGES[state.REPEATS][1],
            step=1,
            key=state.REPEATS,
            help="Energy is measured in pairs of 1.25-second CodeCarbon windows, the point alternating with its "
            "baseline; pairs are added until the 95% interval of the energy ratio is within +/- 5%, or the time limit.",
        )
        st.number_input(
            "Time limit for energy, per point (s)",
            min_value=state.MEASURE_RANGES[state.ENERGY_BUDGET][0],
            max_value=state.MEASURE_RANGES[state.ENERGY_BUDGET][1],
            step=5,
            key=state.ENERGY_BUDGET,
            help="More time, more pairs, a narrower interval. The interval reached is shown with every figure.",
        )


MAX_SHOWN = 600  # characters of one message shown on a page: a sentence, never a file's worth


def literal(text: object, limit: int = MAX_SHOWN) -> str:
    """The one way a page shows text it did not write itself (error messages, an upload's title, its data note,
    notes about what a job did): cut to ``limit`` characters and escaped, so Markdown in a file or node name
    stays text and never renders as a link or an image, in this session or any other."""
    return units.escape_markdown(units.clipped(text, limit))


@contextlib.contextmanager
def plain_errors() -> Iterator[None]:
    """Show back-end errors as one sentence, never a traceback; nothing stored is touched."""
    try:
        yield
    except EcoCompressError as exc:  # messages can quote a user's file name: shown literally, never as Markdown
        st.error(literal(exc))
    except Exception as exc:  # a bug of ours: one sentence, its kind only (a library's text can quote an upload)
        st.error(literal(failure_sentence(exc)))


def measured_or_queued(model: str, point, settings) -> Measurement | None:
    """The stored point at once. Else one job that first measures a quick version (``api.quick_version``: the
    post-training version, two energy pairs), shown labelled within seconds, then the point itself; with the
    place in line, progress and Cancel.

    Any rerun (a slider moved, Cancel clicked) leaves this loop; a request this session no longer wants is
    withdrawn, and the job is dropped when no other session waits for it.
    """
    from ecocompress.service.compute_queue import JobCancelled, ServerBusyError

    session = state.session_id()
    previous = st.session_state.get(state.TICKET)
    stored = api.lookup(model, point, settings)
    if previous is not None and (stored is not None or previous.key != api.job_key(model, point, settings)):
        previous.cancel()  # this session moved on: withdraw its earlier request (a running job's worker is killed)
        st.session_state[state.TICKET] = previous = None
    if stored is not None:
        return stored
    if previous is None:
        if not _retry_over_limits(model, point, settings):
            return None
        _settle(point)
    try:
        found = api.request_point(model, point, settings, session=session, first_answer=True)
    except ServerBusyError as exc:
        st.warning(literal(exc))
        return None
    if isinstance(found, Measurement):
        return found
    ticket = found
    st.session_state[state.TICKET] = ticket
    quick_point, quick_settings = api.quick_version(model, point, settings)
    started = time.perf_counter()
    preview = st.empty()
    with st.status(f"Measuring {point.label()} on {model}...", expanded=True) as status:
        if st.button("Cancel this measurement", key="cancel_measurement"):
            ticket.cancel()
            st.session_state[state.TICKET] = None
            status.update(label="Cancelled; nothing more was stored.", state="error", expanded=False)
            return None
        st.caption("A first answer comes in seconds; the full one (fine-tuned, measured to a narrower interval) "
                   "can take a minute on the MNIST models.")
        bar = st.progress(0.0, text="starting")
        first = None
        while not ticket.wait(0.25):
            if first is None and (first := api.lookup(model, quick_point, quick_settings)) is not None:
                _first_answer(preview, first, point)
            bar.progress(min(1.0, ticket.job.fraction), text=ticket.describe())
        st.session_state[state.TICKET] = None
        try:
            result = ticket.result()
        except JobCancelled as exc:
            status.update(label=literal(exc), state="error", expanded=False)
            return None
        status.update(label=f"Measured {point.label()} on {model} in {time.perf_counter() - started:.0f} s",
                      state="complete", expanded=False)
    preview.empty()
    return result


def _retry_over_limits(model: str, point, settings) -> bool:
    """Whether to queue a point whose last job went over the job limits: only when the user asks again."""
    failed = api.over_limits(model, point, settings)
    if failed is None or st.session_state.get("retry_over_limits"):  # none, or this run is the click on the button
        return True
    st.warning(f"{literal(failed.sentence)} That try ended at {failed.finished_at[11:16]} UTC after "
               f"{units.number(failed.seconds, 2)} s; another takes at least as long and may be stopped again. "
               "Choose another setting, or measure it again.", icon=":material/block:")
    return st.button("Measure it again", key="retry_over_limits")


def _first_answer(slot, m: Measurement, point) -> None:
    """The quick result in ``slot``, said to be one: what was skipped, and that the full point replaces it."""
    skipped = ("not fine-tuned" if m.student_width == 1.0 else
               f"the student distilled for one epoch only, on at most {QUICK_STUDENT_EXAMPLES:,} training examples") \
        if not m.fine_tuned else "the same model"
    with slot.container(border=True):
        energy = (f"energy from {m.energy_pairs} pairs of windows (a wider interval)" if readable(m) else
                  f"energy from {m.energy_pairs} pairs of windows: {NOT_ENOUGH} for an interval")
        st.markdown(f"**First answer** for {point.label()}: {skipped}, {energy}. The full measurement replaces it "
                    "when ready.")
        st.markdown(summary.headline(m))
        metric_cards(m)


def _settle(point) -> None:
    """Wait ``ECOCOMPRESS_DEBOUNCE_S`` before queueing a new point. A knob moved again meanwhile
    reruns the page, which ends this wait at its next redraw: five quick notches start one job, not five."""
    from ecocompress.core.settings import settings

    wait = settings().debounce_s
    note = st.empty()
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        note.caption(f"Measuring {point.label()} in {left:.1f} s; move a knob again to change the setting first.")
        time.sleep(min(0.1, left))
    note.empty()


def method_badge(m: Measurement) -> None:
    """Say how the energy figure was obtained, next to it."""
    if m.energy_estimated:
        st.badge(f"Energy {m.energy_method}", icon=":material/info:", color="orange")
    else:
        st.badge(f"Energy {m.energy_method}", icon=":material/bolt:", color="green")


def metric_cards(m: Measurement) -> None:
    """The point against the baseline (``review.comparison``, as the CLI, the report and the model card say it): each
    figure with its unit, its change as the card's arrow, its interval and change in words beneath, how it was
    measured in the tooltip. A figure not paired with the baseline is a caption, without a change. (The rows are our
    own words and numbers, so they are not escaped: escaping would show 'change\\:' for 'change:'.)"""
    rows = comparison(m)
    cards = [r for r in rows if r.compared]
    for start in range(0, len(cards), 3):
        for column, row in zip(st.columns(3), cards[start:start + 3]):
            column.metric(row.figure[0].upper() + row.figure[1:], row.value,
                          "uncompressed baseline" if m.is_baseline else row.delta,
                          delta_color="off" if m.is_baseline else row.delta_color,
                          help=row.note + (f". Baseline: {row.baseline}." if row.baseline else "."), border=True)
            column.caption("; ".join(x for x in (f"95% interval {row.interval}" if row.interval else "", row.change) if x))
    for row in rows:
        if row not in cards:
            st.caption(f"{row.figure}: {row.value} ({row.note})")


def point_details(m: Measurement) -> None:
    """What was done, why it runs the way it does, and where the gain is only theoretical."""
    if m.gain_only_on_paper:
        st.warning(
            f"Gain only on paper: operation counts and bit-width promise {units.ratio(m.speedup_theoretical)}, "
            f"but the measured speed-up on this CPU is {units.ratio(m.speedup_measured)}. A dense CPU kernel "
            "does not skip zeros or run below 8 bits."
        )
    with st.expander("What was done to this model, and how it was measured"):
        st.markdown(
            f"- **Steps:** {literal(m.technique_notes or 'none (the original model)', 3000)}\n"
            f"- **Runs as:** {literal(m.runtime_format)}; {literal(m.runtime_reason, 3000)}\n"
            f"- **Speed-up:** {units.ratio(m.speedup_measured)} measured (paired with the baseline) at batch {m.energy_batch_size}, "
            f"{units.ratio(m.speedup_theoretical)} theoretical from multiply-accumulates ({m.effective_macs:,} of "
            f"{m.macs:,} with a non-zero weight) and bit-width\n"
            f"- **Energy:** {m.energy_method}; CPU {m.cpu_power_w:.1f} W, RAM {m.ram_power_w:.1f} W\n"
            + (f"- **Agreement with the original model:** top-5 neighbours kept {units.percent(m.accuracy)}, top-1 "
               f"neighbour {units.percent(m.fidelity_top1)}, mean cosine {m.fidelity_cosine:.4f} on {m.test_examples:,} "
               "held-out sentences\n" if m.fidelity_cosine is not None else "")
            + (f"- **Seeds:** accuracy {units.percent(m.accuracy_seed_mean)} +/- {m.accuracy_seed_std * 100:.2f} points "
               f"over {m.seeds} training seeds\n" if m.seeds > 1 else "")
            + f"- **Files:** `{m.onnx_path}` (runnable), `{m.storage_path}` (stored)"
        )


def tradeoff_chart(model: str, current_label: str | None) -> None:
    """Every measured point of ``model``: accuracy versus the chosen cost, Pareto front, table."""
    st.subheader("Accuracy versus cost, every measured point")
    c1, c2 = st.columns([3, 1])
    with c1:
        st.radio(
            "x axis",
            list(plots.X_AXES),
            key=state.X_AXIS,
            horizontal=True,
            format_func=lambda k: plots.X_AXIS_NAMES[k],
        )
    with c2:
        st.toggle("Log scale", key=state.LOG_X)
    with plain_errors():
        records = api.measured_points(model, state.settings())
        st.caption(f"{summary.recommendation_text(recommend(records, DEFAULT_BUDGET_POINTS))} (set your own budget on Review & report).")
        info = plots.tradeoff_info(records, st.session_state[state.X_AXIS], current_label=current_label)
        st.plotly_chart(
            plots.tradeoff_figure(info, log_x=st.session_state[state.LOG_X]), width="stretch", key="tradeoff_chart"
        )
        points_table(records)


def points_table(records: plots.Records) -> None:
    """A sortable table of measured points, with units in the column names."""
    frame = tables.points_frame(records)
    if not frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch")


def changes_section(model: str, m: Measurement) -> None:
    """What compression changed, answer by answer: flips both ways, accuracy per class, the flipped examples
    (for the text model: sentences whose nearest neighbour moved)."""
    from ecocompress.measure.flips import NeighbourChanges, changes_from_dict
    from ecocompress.models.registry import get_model
    from ecocompress.review.images import flipped_images

    if m.is_baseline or not m.prediction_changes:
        return
    changes = changes_from_dict(m.prediction_changes)
    if isinstance(changes, NeighbourChanges):
        st.subheader("What changed: nearest neighbours", help="A sentence model answers with a neighbourhood, not a "
                     "class: these held-out sentences have another nearest neighbour than with the original model.")
        st.write(summary.changes_sentence(changes))
        if changes.lost:
            st.dataframe(tables.neighbours_frame(changes, get_model(model).example_texts()), hide_index=True,
                         width="stretch", key="neighbours_table")
        return
    st.subheader("What changed: answers that flipped", help="Two models with the same accuracy can still disagree on "
                 "many inputs. These are the test examples whose answer changed between the original and this setting.")
    st.write(summary.changes_sentence(changes))
    left, right = st.columns([2, 3])
    left.dataframe(tables.changes_frame(changes), hide_index=True, width="stretch", key="changes_table")
    images = flipped_images(get_model(model).dataset().x_test, changes)
    if images:
        right.caption("Flipped examples (right to wrong first): the true class, the original's answer, this setting's.")
        right.image([image for image, _ in images], caption=[caption for _, caption in images], width=72, clamp=True)
    elif changes.flipped:
        right.dataframe(pd.DataFrame([{"test example": f.index, "true class": f.label, "original's answer":
                                       f.baseline_prediction, "this setting's answer": f.point_prediction}
                                      for f in changes.flipped]), hide_index=True, key="flips_table")


def per_layer_point(model: str, objective: str, budget: float):
    """The per-layer point chosen for ``model`` and ``objective`` within ``budget`` points, choosing it on request
    (None until chosen)."""
    from ecocompress.service.layers import allocate_point, cached_allocation

    allocation = cached_allocation(model, objective=objective, max_accuracy_drop=budget)
    if allocation is None:
        aim = "the smallest file" if objective == "size" else "the least energy"
        st.info(f"Per-layer settings for {aim} within a {budget:g}-point budget have not been chosen for this model yet. Choosing "
                "measures every layer and fine-tunes a few candidates briefly: about a minute on the digits model, "
                "several on the MNIST models; the chosen point is then fine-tuned and measured like any other.")
        if not st.button("Choose the per-layer settings", key="choose_per_layer"):
            return None
        bar = st.progress(0.0, text="starting")
        _, allocation = allocate_point(model, objective=objective, max_accuracy_drop=budget, session=state.session_id(),
                                       progress=lambda step, f: bar.progress(min(1.0, f), text=step))
        bar.empty()
    st.caption("Chosen per layer: " + literal(summary.per_layer_sentence(allocation), 3000)
               + ". The measured test accuracy is below.")
    return allocation.point()


def layer_section(model: str, point, settings) -> None:
    """Where the energy goes, layer by layer, and which layers can be squeezed (computed once, on request)."""
    from ecocompress.service.layers import cached_layer_view, knobs, layer_view

    st.subheader("Where the energy goes, layer by layer")
    sparsity, bits = knobs(point)
    st.caption(f"For the uncompressed model: each weighted layer's share of the time onnxruntime spends (measured) and "
               f"of the energy a dense CPU would use (modelled), beside the accuracy change when only that layer is "
               f"pruned to {sparsity:.0%} or put on {bits}-bit weights, without fine-tuning (the Explore knobs set both; "
               "a knob left off uses 50% or 4 bits). Layers that cost much and lose little are the ones to squeeze.")
    with plain_errors():
        view = cached_layer_view(model, point, settings)
        if view is None:
            if not st.button("Analyse the layers (about 10-30 s)", key="analyse_layers"):
                return
            bar = st.progress(0.0, text="starting")
            view = layer_view(model, point, settings, session=state.session_id(),
                              progress=lambda step, f: bar.progress(min(1.0, f), text=step))
            bar.empty()
        st.plotly_chart(plots.layers_figure(view), width="stretch", key="layers_chart")
        st.dataframe(tables.layers_frame(view), hide_index=True, width="stretch")
