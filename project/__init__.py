"""wattcast.project: scale per-inference energy to yearly TWh, CO2 and water.

This package never imports torch or streamlit (see docs/architecture.md).
"""
