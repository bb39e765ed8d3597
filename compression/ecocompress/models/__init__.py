"""Models: every kind of model behind one interface (``base.ModelKind``).

Built-in samples and the registry (``registry``), your own PyTorch model (``custom``), uploaded
ONNX files and their data, parsed safely (``uploads``), and the optional sentence encoder (``text/``).
Each kind builds its own artifact for a point, so nothing upstream dispatches on kind flags.
May import ``core``, ``sandbox``, ``measure`` and ``compressor``.
"""
