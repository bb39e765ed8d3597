"""Review: views over measured records.

Charts (``plots``: pure ``*_info`` functions and thin plotly builders; ``images`` for the report),
projection to the user's scale (``projection``), the offline HTML report (``report``) and the
artifact export with model card (``artifacts``). May import every layer below, ``service`` included.
"""
