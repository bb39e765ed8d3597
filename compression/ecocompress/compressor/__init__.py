"""The compressor: turn a model and a ``CompressionPoint`` into the artifact we hand out.

The torch pipeline for trainable models (``pipeline``: distill -> prune -> factorise -> quantize ->
export), uploaded ONNX graphs as torch modules for it (``convert``), the file-level pipeline for uploads
that do not convert (``onnx_pipeline``), the techniques
themselves (``techniques/``), the storage format (``storage``), the runnable-format choice by timing
(``runtime_choice``), ONNX export, training loops, sample architectures and upload students.
May import ``core`` and ``measure``.
"""
