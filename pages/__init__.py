"""Streamlit pages: thin views over the `compression` backend."""
