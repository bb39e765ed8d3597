"""Build: turn a model and a ``CompressionPoint`` into the artifact we hand out.

The torch pipeline for trainable models (``pipeline``: distill -> prune -> factorise -> quantize ->
export), the file-level pipeline for uploaded ONNX models (``onnx_pipeline``), the techniques
themselves (``techniques/``), the storage format (``storage``), the runnable-format choice by timing
(``runtime_choice``), ONNX export, training loops, sample architectures and upload students.
May import ``core`` and ``measure``.
"""
