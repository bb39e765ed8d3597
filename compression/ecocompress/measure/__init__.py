"""Measure: what a built ONNX artifact does in onnxruntime.

Sessions, accuracy and latency (``session``), energy with CodeCarbon's offline tracker (``energy``) in paired
windows against the baseline (``paired``), the answers that changed (``flips``), per-layer time shares
(``layers``), operation counts read from the ONNX file (``opcounts``), modelled energy from those counts
(``energy_model``), and the machine-wide measurement lock (``locks``). May import ``core`` only.
"""
