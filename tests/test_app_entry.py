"""`app.py`, the server entry point: `streamlit run app.py` must find its st.App and serve the pages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

ROOT = Path(__file__).resolve().parent.parent


def test_streamlit_run_finds_the_app_and_its_page_script():
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.app_name == "app", found


def test_entry_point_names_the_page_script_and_warms_the_modules_the_first_run_needs():
    # a fresh interpreter (an st.App pins process-wide config): the warm-up imports the engine and the
    # page modules, nothing from torch, and never raises
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('wattcast_app_entry', {str(ROOT / 'app.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert m.MAIN.is_file(), m.MAIN\n"
        "before = [n for n in m.WARM_MODULES if n in sys.modules]\n"
        "assert not before, before\n"
        "m.warm_imports()\n"
        "missing = [n for n in m.WARM_MODULES if n not in sys.modules]\n"
        "assert not missing, missing\n"
        "assert 'torch' not in sys.modules\n"
        # a module that fails to import is left to the visitor's page run (Streamlit shows the error there)
        "m.WARM_MODULES = ('wattcast_no_such_module_xyz', 'json')\n"
        "m.warm_imports()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
