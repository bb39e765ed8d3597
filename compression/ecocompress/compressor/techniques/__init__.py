"""Compression techniques, each a pure function from a torch model to a new torch model."""
