"""Streamlit pages: thin views over the `compression` backend.

Page scripts live in ``pages/views/`` and shared view code in ``pages/ui/``, never directly
in ``pages/``: Streamlit treats ``.py`` files at the top of a folder named ``pages`` as its
legacy page list, and a first visit to a deep link on a fresh server would then bypass
``app.py``'s navigation (wrong menu, wrong layout) for that session. What remains of that
legacy routing is a one-off "Page not found" notice on the very first deep link after a
server start, shown before any of our code runs; the right page follows it.
"""
