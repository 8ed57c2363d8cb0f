"""wattcast: the policy simulator's page script (`app.py` serves it: `streamlit run app.py`).

Three pages: the simulator (policy measures and scenario controls, the headline, one main
chart with pinned scenarios and savings by measure, countries and regions, share and
export), measurements (the study's per-model data and uploads), and methodology (back-test,
variable tree, sources). Numbers come from `project/` (the functions `wattcast project`
calls); the pages and their Streamlit-free helpers are in `app_pages/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app.py` from anywhere, without an install
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(
    page_title="wattcast: AI electricity, emissions and water",
    page_icon=":material/bolt:",
    layout="wide",
    initial_sidebar_state="auto",  # expanded on a desktop, collapsed on a phone
)

# Cards wrap instead of cutting values off ("95..."); text colours keep >= 4.5:1 contrast.
st.html(
    """
<style>
  [data-testid="stMetricValue"] { font-size: clamp(1.35rem, 1.1rem + 0.9vw, 1.9rem); }
  [data-testid="stMetric"] .stMarkdownEllipsis, [data-testid="stMetric"] .stMarkdownEllipsis p {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
  /* headline cards: four in a row, two by two on a laptop with the sidebar open, one on a phone */
  .st-key-cards { container-type: inline-size; }
  .st-key-cards > div { flex: 1 1 0 !important; min-width: 0; width: auto !important; max-width: none !important; }
  @container (max-width: 60rem) { .st-key-cards > div { flex: 1 1 calc(50% - 0.5rem) !important; } }
  @container (max-width: 26rem) { .st-key-cards > div { flex: 1 1 100% !important; } }
  .st-key-cards [data-testid="stMetric"] { height: 100%; }
  [data-testid="stMetricLabel"] p { font-weight: 600; }
  [data-testid="stMetricDelta"] { color: #374151 !important; }
  [data-testid="stCaptionContainer"] { opacity: 1 !important; }
  [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #4B5563 !important; }
  .wc-link { overflow-wrap: anywhere; font-family: monospace; font-size: 0.85rem; }  /* the share link wraps */
  /* the region buttons' height, held while a session's first run shows the headline alone: one row,
     two on a phone, where they wrap */
  .wc-first-paint { height: 2rem; }
  @media (max-width: 30rem) { .wc-first-paint { height: 4.25rem; } }
  [data-testid="stSidebarHeader"] { height: 1rem; min-height: 1rem; }
  h1 { font-size: clamp(1.5rem, 1.2rem + 1.2vw, 2.2rem) !important; }
</style>
"""
)

pages = [
    st.Page(str(ROOT / "app_pages" / "simulator.py"), title="Simulator", icon=":material/tune:", default=True),
    st.Page(str(ROOT / "app_pages" / "measurements.py"), title="Measurements", icon=":material/bar_chart:",
            url_path="measurements"),
    st.Page(str(ROOT / "app_pages" / "methodology.py"), title="Methodology and sources",
            icon=":material/menu_book:", url_path="methodology"),
]
st.navigation(pages, position="top").run()
