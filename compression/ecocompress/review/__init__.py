"""Review: views over measured records.

Charts (``plots``: pure ``*_info`` functions and thin plotly builders; ``images`` for the report), the tables people
read (``tables``), projection to the user's scale (``projection``), sustainability-review figures (``footprint``),
the offline HTML report (``report``), its PDF (``pdf``), the glossary (``glossary``), one-line summaries
(``summary``) and the artifact export with model card (``artifacts``). May import every layer below, ``service``
included.
"""
