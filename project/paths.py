"""Where wattcast finds its shipped data files."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The `data/` folder: `$WATTCAST_DATA` if set, else the one beside the packages."""
    env = os.environ.get("WATTCAST_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


def scenarios_dir() -> Path:
    return data_dir() / "scenarios"


def reference_dir() -> Path:
    return data_dir() / "reference"
