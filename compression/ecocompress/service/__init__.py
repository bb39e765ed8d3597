"""Service: the entry the pages and the CLI call.

``api`` (measure or serve a point, ``compress`` for your own model), the process-wide compute queue
(``compute_queue``), background jobs (``jobs``), grid sweeps (``sweep``), the accuracy-budget search
(``search``), the per-layer view and choice (``layers``) and the SQLite results store (``store``). May import every layer below: ``core``,
``sandbox``, ``measure``, ``compressor``, ``models``.
"""
