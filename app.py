"""wattcast: the policy simulator, served by `python -m streamlit run app.py`.

This file is the server's entry point (a Streamlit `st.App`, which `streamlit run` finds and
serves with the same options and `.streamlit/config.toml`). The pages themselves are in
`app_pages/`: `app_pages/main.py` sets the page up and hands over to the simulator, the
measurements and the methodology pages.

Why an entry point of its own: a fresh server imports pandas, the engine and the page
modules on its first visitor's first run, about 0.9 s on a 2-core machine, and the visitor
waits for it before the headline. Here those imports start on a background thread as the
server starts, while the browser is still loading Streamlit's JavaScript.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `streamlit run app.py` from anywhere, without an install
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

#: the page script Streamlit runs for every visitor (AppTest tests run it directly)
MAIN = ROOT / "app_pages" / "main.py"

#: modules the first run needs: the engine (and pandas, numpy, pydantic with it) and the page modules
WARM_MODULES = ("project.engine", "project.national", "app_pages.session", "app_pages.controls",
                "app_pages.compute", "app_pages.tables", "app_pages.charts", "app_pages.uploads")


def warm_imports() -> None:
    """Import WARM_MODULES (a failure here is left to the page run, which reports it to the visitor)."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page's own import raises it again, with Streamlit's error display
            logging.getLogger(__name__).debug("warm-up import of %s failed", name, exc_info=True)
            return


@asynccontextmanager
async def _lifespan(_app):
    threading.Thread(target=warm_imports, name="wattcast-warm-imports", daemon=True).start()
    yield


app = st.App(str(MAIN), lifespan=_lifespan)
