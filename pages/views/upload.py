"""Your model: upload an ONNX classifier and labeled data; then explore, sweep and review it like a sample."""

from __future__ import annotations

import streamlit as st

from ecocompress.core.errors import EcoCompressError
from ecocompress.models.uploads import DEFAULT_LABEL_COLUMN, load_upload, max_upload_bytes
from pages.ui import state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Bring your own model")
st.write(
    "Upload an ONNX classifier and labeled data to review it like the samples: accuracy, size, latency and energy "
    "of its compressed versions, measured in onnxruntime."
)
st.markdown(
    f"""
- **Model**: one `.onnx` file with one float input (`[batch, features]` or `[batch, channels, height, width]`) and
  class scores out (`[batch, classes]`), weights inside the file. Export with `torch.onnx.export` or skl2onnx.
- **Data**: `.csv` with numeric feature columns and a label column (class indices), or `.npz` with arrays `x` and `y`.
  Without a separate training file, 30% of it is held out for every accuracy figure and the rest calibrates and
  trains students.
- **Safety**: files are parsed, never executed; pickle-based files (`.pt`, `.pkl`, ...) are refused; the model is
  checked and measured in a separate process with memory, CPU and time limits; files are held in memory for this
  browser session only (other sessions never see them; they go when the session ends) and never stored under
  their own names. Limit: **{max_upload_bytes() / 1e6:.0f} MB**
  per file (the server's operator can change it).
- **Every technique, fine-tuned on your training split**: the file is converted to PyTorch and checked against
  onnxruntime on your data; then it is pruned (structured too), factorised, quantized and narrowed into
  students (student size 1/2: half the channels of every layer, distilled from your model) like the built-in
  samples. A file that does not convert says which operator stopped it; it can still be pruned (one-shot) and
  quantized (k-bit weights, int8/fp16 runtimes calibrated on your data), and a **student** (student size < 1) is
  trained here on your model's outputs.
"""
)

limit_mb = max(1, int(max_upload_bytes() // 1_000_000))  # the same limit the widget shows and the back end enforces
c1, c2 = st.columns(2)
model_file = c1.file_uploader("ONNX model", type=["onnx"], key="upload_model", max_upload_size=limit_mb)
data_file = c2.file_uploader("Labeled data (evaluation)", type=["csv", "npz", "txt"], key="upload_data",
                             max_upload_size=limit_mb)
c3, c4 = st.columns(2)
train_file = c3.file_uploader("Training data (optional)", type=["csv", "npz", "txt"], key="upload_train",
                              max_upload_size=limit_mb)
c4.text_input("Label column (CSV)", value=DEFAULT_LABEL_COLUMN, key="upload_label_column")

if st.button("Check and add the model", type="primary", key="upload_add", disabled=not (model_file and data_file)):
    waiting = st.empty()
    try:
        spec = load_upload(
            model_file.getvalue(), model_file.name, data_file.getvalue(), data_file.name,
            label_column=st.session_state["upload_label_column"].strip() or None,
            train_bytes=train_file.getvalue() if train_file else None,
            train_filename=train_file.name if train_file else None,
            session=state.session_id(), on_wait=lambda sentence: waiting.info(sentence, icon=":material/hourglass_top:"),
        )
    except EcoCompressError as exc:  # one sentence; nothing stored is touched
        st.error(widgets.literal(exc))
    else:
        waiting.empty()
        state.keep_upload(spec)
        state.forget_uploaded_files(model_file, data_file, train_file)  # the checked copy is all that is kept
if not (model_file and data_file):
    st.caption("Choose a model and its data to continue.")

spec = st.session_state[state.UPLOADS].get(st.session_state.get(state.UPLOADED))
if spec is not None:
    with widgets.plain_errors():
        st.success(f"Added **{widgets.literal(spec.name)}** ({spec.info.classes} classes, input "
                   f"{list(spec.info.input_shape)}). {widgets.literal(spec.data_note)}.")
        for warning in spec.warnings:
            st.warning(widgets.literal(warning))
        st.page_link("pages/views/explore.py", label="Explore it", icon=":material/tune:")
        st.page_link("pages/views/sweep.py", label="Sweep it", icon=":material/grid_on:")
        st.page_link("pages/views/review.py", label="Review and report", icon=":material/summarize:")
