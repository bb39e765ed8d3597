"""The page scripts registered by app.py's st.navigation."""
