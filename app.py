"""ecocompress dashboard: `streamlit run app.py`.

Multipage navigation over thin views; all the work happens in the `compression` package.
"""

import streamlit as st

from ecocompress.core.errors import EcoCompressError
from ecocompress.core.settings import settings
from ecocompress.core.units import escape_markdown

st.set_page_config(page_title="ecocompress", page_icon="🌱", layout="wide")

try:  # every ECOCOMPRESS_* setting, validated once: a bad value stops here with one sentence, not deep in a job
    settings()
except EcoCompressError as exc:
    st.error(escape_markdown(str(exc)))
    st.stop()

navigation = st.navigation(
    [
        st.Page("pages/views/home.py", title="Home", icon=":material/eco:", default=True),
        st.Page("pages/views/explore.py", title="Explore", icon=":material/tune:"),
        st.Page("pages/views/sweep.py", title="Sweep", icon=":material/grid_on:"),
        st.Page("pages/views/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/views/review.py", title="Review & report", icon=":material/summarize:"),
        st.Page("pages/views/upload.py", title="Your model", icon=":material/upload_file:"),
    ]
)
navigation.run()
