"""ecocompress: measure what model compression buys in energy and costs in accuracy.

The backend. It never imports streamlit: pages are thin views over these modules.
"""

__version__ = "0.1.0"
