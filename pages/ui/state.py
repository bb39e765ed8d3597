"""The one module that owns st.session_state keys, so pages never disagree about names."""

from __future__ import annotations

import streamlit as st

from ecocompress.core import knobs
from ecocompress.core.choice import DEFAULT_BUDGET_POINTS
from ecocompress.core.grid import DEFAULT_COUNTRY
from ecocompress.core.settings import settings as server_settings
from ecocompress.core.settings import spec_of
from ecocompress.models.registry import DEFAULT_MODEL
from ecocompress.core.points import CompressionPoint
from ecocompress.review.footprint import DEFAULT_HARDWARE, DEFAULT_WUE_L_PER_KWH, MARKET_KINDS
from ecocompress.review.projection import DEFAULT_REGIONS, Scale
from ecocompress.core.records import MeasureSettings

MODEL = "model"
# Each knob's widget has its short name as its key (``core.knobs``); these four are named for the pages' own use.
SPARSITY, BITS, STUDENT, RANK = (knob.name for knob in (knobs.SPARSITY, knobs.BITS, knobs.STUDENT, knobs.RANK))
STRUCTURED = "structured"
PER_LAYER = "per_layer"  # Explore: each layer's sparsity and bits chosen automatically
PER_LAYER_BUDGET = "per_layer_budget"
PER_LAYER_OBJECTIVE = "per_layer_objective"  # "size" (sparsity and bits per layer) or "energy" (widths per layer)
COUNTRY = "country"
REPEATS = "repeats"
SCENARIO = "scenario"
ENERGY_BUDGET = "energy_budget"
X_AXIS = "x_axis"
LOG_X = "log_x"

# Review page: deployment scale, chosen point, modelled-energy view, target-hardware power
REVIEW_BUDGET = "review_budget"
REVIEW_POINT = "review_point"
PER_DAY = "per_day"
DEPLOY_COUNTRY = "deploy_country"
PRICE = "price"
CURRENCY = "currency"
PUE = "pue"
REGIONS = "regions"
ENERGY_BASIS = "energy_basis"
PROFILE = "profile"
CPU_POWER = "cpu_power"
RAM_POWER = "ram_power"
# Review page: the sustainability review's declarations (review/footprint.py)
FUNCTIONAL_UNIT = "functional_unit"  # one of FUNCTIONAL_UNIT_KINDS
FUNCTIONAL_UNIT_COUNT = "functional_unit_count"  # N of '<N> requests', 'batch of <N>', 'user-day of <N> inferences'
HARDWARE = "hardware"
MARKET_FACTOR = "market_factor"  # None: not given
MARKET_KIND = "market_kind"
WUE = "wue"
LATENCY_TARGET = "latency_target"  # ms per request served alone; None: throughput
REPORT_HTML = "report_html"
REPORT_PDF = "report_pdf"

UPLOADED = "uploaded"  # name of the model this session uploaded last
UPLOADS = "uploads"  # name -> the uploaded model itself: the session holds it, so it goes when the session ends

SESSION_ID = "session_id"  # this browser session's name in the compute queue
TICKET = "ticket"  # the queued measurement this session waits for, if any

SWEEP_JOB = "sweep_job"
SEARCH_JOB = "search_job"
SEARCH_BUDGET = "search_budget"
SEARCH_OBJECTIVE = "search_objective"
SEARCH_TRIALS = "search_trials"
COMPARE_MODELS = "compare_models"

# The sidebar's measurement numbers: the widgets' ranges are the server settings' declared ranges (core.settings),
# whose values (validated at start-up) are the widgets' defaults.
MEASURE_SETTINGS = {REPEATS: "energy_pairs", ENERGY_BUDGET: "energy_budget_s"}
MEASURE_RANGES = {key: (int(spec_of(name).low), int(spec_of(name).high)) for key, name in MEASURE_SETTINGS.items()}


DEFAULTS = {
    MODEL: DEFAULT_MODEL,
    **{knob.name: knob.default for knob in knobs.KNOBS},
    STRUCTURED: False,
    PER_LAYER: False,
    PER_LAYER_BUDGET: 0.2,
    PER_LAYER_OBJECTIVE: "size",
    COUNTRY: DEFAULT_COUNTRY,
    REPEATS: server_settings().energy_pairs,
    SCENARIO: "batch",
    ENERGY_BUDGET: server_settings().energy_budget_s,
    X_AXIS: "energy",
    LOG_X: False,
    REVIEW_BUDGET: DEFAULT_BUDGET_POINTS,
    PER_DAY: 10_000_000,
    DEPLOY_COUNTRY: DEFAULT_COUNTRY,
    PRICE: 0.15,
    CURRENCY: "USD",
    PUE: 1.0,
    REGIONS: list(DEFAULT_REGIONS),
    ENERGY_BASIS: "measured",
    PROFILE: "sparse_accelerator",
    CPU_POWER: 0.0,
    RAM_POWER: 0.0,
    FUNCTIONAL_UNIT: "inference",
    FUNCTIONAL_UNIT_COUNT: 1000,
    HARDWARE: DEFAULT_HARDWARE,
    MARKET_FACTOR: None,
    MARKET_KIND: MARKET_KINDS[0],
    WUE: DEFAULT_WUE_L_PER_KWH,
    LATENCY_TARGET: None,
    SEARCH_BUDGET: DEFAULT_BUDGET_POINTS,
    SEARCH_OBJECTIVE: "energy",
    SEARCH_TRIALS: 12,
}


def init() -> None:
    """Give every key its default once per browser session (widgets then own their keys); let go of
    uploads of sessions that ended (``registry.release_ended``)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(UPLOADS, {})
    from ecocompress.models.registry import release_ended

    release_ended()
    if st.session_state[MODEL] not in model_titles():  # e.g. an upload lost when the server restarted
        st.session_state[MODEL] = DEFAULT_MODEL


def session_id() -> str:
    """A stable id for this browser session (the compute queue counts and dedups per session)."""
    import uuid

    return st.session_state.setdefault(SESSION_ID, f"browser-{uuid.uuid4().hex[:12]}")


def model_titles() -> dict[str, str]:
    """Models this session may pick: the samples and its own uploads, name -> title."""
    from ecocompress.models.registry import available_models

    titles = {m.name: m.title for m in available_models()}
    for name, spec in st.session_state.get(UPLOADS, {}).items():
        titles[name] = f"uploaded: {spec.title}"
    return titles


def forget_uploaded_files(*files) -> None:
    """Drop the raw bytes Streamlit keeps for this session's file widgets once the upload is checked and held.

    Streamlit frees them only when a session is shut down, which a closed tab's session never is (it
    expires from the reconnect cache instead), so without this every upload would stay in memory.
    """
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None or not runtime.exists():
        return
    manager = runtime.get_instance().uploaded_file_mgr
    for file in files:
        if file is not None and getattr(file, "file_id", None):
            manager.remove_file(context.session_id, file.file_id)


def keep_upload(spec) -> None:
    """Hold ``spec`` in this session (the newest ``ECOCOMPRESS_UPLOADS_PER_SESSION``; older ones let go)
    and make it the model every page shows."""
    uploads = {name: held for name, held in st.session_state[UPLOADS].items() if name != spec.name}
    uploads[spec.name] = spec
    keep = server_settings().uploads_per_session
    st.session_state[UPLOADS] = dict(list(uploads.items())[-keep:])
    st.session_state[UPLOADED] = spec.name
    st.session_state[MODEL] = spec.name


def point() -> CompressionPoint:
    """The compression point the Explore knobs describe (validated: bad state raises a sentence)."""
    values = {knob.field: st.session_state[knob.name] for knob in knobs.KNOBS}
    structured = bool(st.session_state[STRUCTURED]) and knobs.SPARSITY.is_set(values[knobs.SPARSITY.field])
    return CompressionPoint(**values, structured=structured)


def settings(*, with_power: bool = False) -> MeasureSettings:
    """Measurement settings chosen in the sidebar (and, on the Review page, the target-hardware power)."""
    cpu, ram = float(st.session_state[CPU_POWER]), float(st.session_state[RAM_POWER])
    return MeasureSettings(
        country=st.session_state[COUNTRY],
        repeats=int(st.session_state[REPEATS]),
        scenario=st.session_state[SCENARIO],
        energy_budget_s=float(st.session_state[ENERGY_BUDGET]),
        force_cpu_power_w=cpu if with_power and cpu > 0 else None,
        force_ram_power_w=ram if with_power and ram > 0 else None,
    )


def scale() -> Scale:
    """The deployment the Review page projects to (validated: bad input raises one sentence)."""
    return Scale(
        inferences_per_day=float(st.session_state[PER_DAY]),
        country=st.session_state[DEPLOY_COUNTRY],
        price_per_kwh=float(st.session_state[PRICE]),
        currency=str(st.session_state[CURRENCY]),
        pue=float(st.session_state[PUE]),
    )
