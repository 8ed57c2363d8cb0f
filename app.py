"""wattcast: the policy simulator (streamlit run app.py).

Three pages: the simulator (scenario controls, headline, charts, sensitivity, lifecycle,
share and export), measurements (the study's per-model data, the project's records, CSV
upload), and methodology and sources. The numbers come from `project/` (the same
functions `wattcast project` calls); the pages are in `app_pages/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `streamlit run app.py` from anywhere, without an install
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app_pages import state  # noqa: E402

st.set_page_config(
    page_title="wattcast: AI inference energy simulator",
    page_icon=":material/bolt:",
    layout="wide",
    initial_sidebar_state="expanded",
)

st.html(
    """
<style>
  [data-testid="stMetricValue"] { font-size: 1.75rem; }
  [data-testid="stMetricLabel"] p { font-weight: 600; }
  [data-testid="stSidebarHeader"] { height: 1rem; min-height: 1rem; }
  .wc-kicker { color: #0F766E; font-weight: 600; letter-spacing: .04em; text-transform: uppercase;
               font-size: .8rem; margin-bottom: -0.6rem; }
  .wc-lede { font-size: 1.05rem; color: #3B4A50; max-width: 62rem; }
  .wc-note { color: #5B6B70; font-size: .88rem; }
</style>
"""
)

state.init_state()

pages = [
    st.Page(str(ROOT / "app_pages" / "simulator.py"), title="Simulator", icon=":material/tune:", default=True),
    st.Page(str(ROOT / "app_pages" / "measurements.py"), title="Measurements", icon=":material/bar_chart:",
            url_path="measurements"),
    st.Page(str(ROOT / "app_pages" / "methodology.py"), title="Methodology and sources", icon=":material/menu_book:",
            url_path="methodology"),
]
st.navigation(pages, position="top").run()
