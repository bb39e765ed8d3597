"""The optional all-MiniLM-L6-v2 sentence encoder (``.[text]`` extra): encoder, its pipeline, its kind."""
