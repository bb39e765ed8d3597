"""Core: the plain values every other layer speaks in.

Records (``CompressionPoint``, ``MeasureSettings``, ``Measurement``), the named errors and the one
parameter-message helper, configuration and paths, the server's settings (``settings``), the knobs as people see them
(``knobs``), units and number formatting, provenance, training recipes, bundled data sets, grid data, and
the pure rules over records
(Pareto split, objectives, the recommendation). Imports nothing from ecocompress outside ``core``;
never imports torch, onnxruntime or codecarbon at module level.
"""
