"""Compression techniques. Each is a pure function: it returns a new model and leaves its input alone."""
