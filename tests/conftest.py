"""Shared test setup: the browser tests' helpers live in tests/streamlit_server.py."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `from streamlit_server import ...` in the browser test
    sys.path.insert(0, str(HERE))
