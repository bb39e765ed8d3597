"""Sweep: measure a grid of settings in the background, with progress and a live chart."""

from __future__ import annotations

import streamlit as st

from ecocompress.service import api

from ecocompress.review import plots

from ecocompress.core import knobs, units
from ecocompress.service.jobs import SearchJob, SweepJob, get_job, list_jobs, others_running, start_search, start_sweep
from ecocompress.core.objectives import OBJECTIVES
from ecocompress.service.store import ResultsStore
from ecocompress.service.sweep import estimate_seconds, grid
from pages.ui import state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Sweep a grid of settings")
st.write(
    "Pick the values to try for each knob. Every combination is compressed and measured in the background; "
    "points already measured are reused. Completed points are saved as they finish, even if you close this tab."
)

names = state.model_titles()
model = st.selectbox("Model", list(names), key=state.MODEL, format_func=lambda n: f"{names[n]} ({n})")
chosen = {}
for knob, column in zip(knobs.KNOBS, st.columns(len(knobs.KNOBS))):
    chosen[knob.field] = column.multiselect(knob.label, knob.values, default=list(knob.swept or (knob.default,)),
                                            format_func=knob.show, key=f"sweep_{knob.name}", help=knob.help)
structured = st.toggle("Structured pruning (remove whole channels)", value=False)

session = state.session_id()
job: SweepJob | None = get_job(st.session_state.get(state.SWEEP_JOB), session)
with widgets.plain_errors():
    if not all(chosen.values()):
        st.error("Choose at least one value for every knob, then start the sweep.")
    else:
        points = grid(chosen, structured=structured)
        settings = state.settings()
        new, seconds = estimate_seconds(model, points, settings, ResultsStore())
        st.info(
            f"{len(points)} settings, {new} not measured yet: about {units.latency_ms(seconds * 1000)} "
            f"({seconds / 60:.0f} min) on this machine; measured points cost nothing."
        )
        busy = job is not None and job.active
        if st.button("Start sweep", type="primary", disabled=busy, key="start_sweep"):
            job = start_sweep(model, points, settings, session=session)
            st.session_state[state.SWEEP_JOB] = job.id

# this session's other sweeps (a sweep survives a closed tab, not a closed session); other sessions' are only counted
mine = [j for j in list_jobs(session) if j.active and (job is None or j.id != job.id)]
if mine:
    follow = st.selectbox("Follow another of your running sweeps", [""] + [j.id for j in mine], key="follow_job",
                          format_func=lambda i: i and next(f"{j.id} ({j.model}, {len(j.done)}/{j.total})" for j in mine
                                                           if j.id == i))
    if follow:
        st.session_state[state.SWEEP_JOB] = follow
        job = get_job(follow, session)
if busy_elsewhere := others_running(session):
    st.caption(f"{busy_elsewhere} sweep{'s' if busy_elsewhere != 1 else ''} or search{'es' if busy_elsewhere != 1 else ''} "
               f"of other sessions share{'s' if busy_elsewhere == 1 else ''} the machine; the compute queue takes turns between sessions, one job each, so "
               "your points never wait behind a whole sweep.")


def job_status(job: SweepJob | SearchJob, done: int, total: int, text: str, unit: str, *, stopped: str) -> None:
    """Progress bar, a stop button while running, and what happened when it ended."""
    st.progress(done / max(1, total), text=text)
    if job.active:
        if st.button(f"Stop after the current {unit}", key=f"stop_{job.id}"):
            job.stop()
    elif job.state == "failed":
        st.error(f"It stopped: {widgets.literal(job.error)} Completed {unit}s are kept.")
    elif job.state == "stopped":
        st.warning(stopped)


def render_job(job: SweepJob, live: bool) -> None:
    """Progress, stop control and the live chart of one sweep (re-run every second while live)."""
    if live and not job.active:
        st.rerun()  # the sweep ended: redraw the whole page once, which turns the live refresh off
    st.subheader(f"Sweep {job.id} on {widgets.literal(job.model)}")
    job_status(job, len(job.done), job.total, f"{len(job.done)} of {job.total} points: {job.step}", "point",
               stopped=f"Stopped after {len(job.done)} of {job.total} points; they are saved.")
    if job.state == "finished":
        st.success(f"All {job.total} points measured.")
    records = job.done
    if records:
        info = plots.tradeoff_info(records, st.session_state[state.X_AXIS])
        st.plotly_chart(plots.tradeoff_figure(info, log_x=st.session_state[state.LOG_X]), width="stretch", key=f"chart_{job.id}")
        widgets.points_table(records)


if job is not None:
    st.radio("x axis", list(plots.X_AXES), key=state.X_AXIS, horizontal=True, format_func=lambda k: plots.X_AXIS_NAMES[k])
    st.toggle("Log scale", key=state.LOG_X)
    st.fragment(render_job, run_every=1.0 if job.active else None)(job, job.active)


# ---- find the best point within an accuracy budget (Optuna) ------------------------------------------------------
st.divider()
st.subheader("Find the best point within an accuracy budget")
st.write(
    "Instead of a full grid, let a search (Optuna, multi-objective) try settings and keep every trial: it recommends "
    "the cheapest point within your accuracy budget, or, if none is, the closest one, labelled as such. Running it "
    "again continues the same study."
)
f1, f2, f3 = st.columns(3)
f1.number_input("Accuracy budget (points)", min_value=0.0, max_value=20.0, step=0.5, key=state.SEARCH_BUDGET)
f2.radio("Minimise", list(OBJECTIVES), key=state.SEARCH_OBJECTIVE, horizontal=True,
         format_func=lambda k: OBJECTIVES[k].name.lower())
f3.number_input("Trials", min_value=1, max_value=200, step=1, key=state.SEARCH_TRIALS,
                help="New trials to run now; a point measured before costs nothing.")
search: SearchJob | None = get_job(st.session_state.get(state.SEARCH_JOB), session)
with widgets.plain_errors():
    if st.button("Find best", type="primary", key="find_best", disabled=search is not None and search.active):
        search = start_search(model, int(st.session_state[state.SEARCH_TRIALS]), float(st.session_state[state.SEARCH_BUDGET]),
                              st.session_state[state.SEARCH_OBJECTIVE], state.settings(), session=session)
        st.session_state[state.SEARCH_JOB] = search.id


def render_search(search: SearchJob, live: bool) -> None:
    """Trials arriving on the chart, progress, and the recommended point with its reason."""
    if live and not search.active:
        st.rerun()
    job_status(search, search.done, search.trials,
               f"{search.done} of {search.trials} trials" + (f"; last: {search.last}" if search.last else ""), "trial",
               stopped=f"Stopped after {search.done} trials; they are saved, and Find best continues the study.")
    rec = search.recommendation
    if rec is not None:
        (st.success if rec.within_budget else st.warning)(f"**{'Recommended' if rec.within_budget else 'Closest'}: "
                                                          f"{widgets.literal(rec.record.label)}**: {widgets.literal(rec.reason)}.")
    records = api.measured_points(search.model, search.settings)
    if records:
        axis = {"energy": "energy", "latency": "latency", "size": "size"}[search.objective]
        info = plots.tradeoff_info(records, axis, current_label=rec.record.label if rec else None)
        st.plotly_chart(plots.tradeoff_figure(info, current_name="recommended"), width="stretch", key=f"chart_{search.id}")


if search is not None:
    with widgets.plain_errors():
        st.fragment(render_search, run_every=1.0 if search.active else None)(search, search.active)
