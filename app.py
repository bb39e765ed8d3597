"""ecocompress dashboard: `streamlit run app.py`.

Multipage navigation over thin views; all the work happens in the `compression` package.
"""

import streamlit as st

st.set_page_config(page_title="ecocompress", page_icon="🌱", layout="wide")

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
