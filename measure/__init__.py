"""wattcast.measure: per-inference energy of the ten tasks of "Power Hungry Processing".

Importing this package (and ``measure.cli``) never imports torch: the runners import
torch, transformers and diffusers lazily, so the base ``wattcast`` CLI works without the
``[measure]`` extra. See docs/measure.md for the protocol and the record schema in
docs/architecture.md.
"""

from __future__ import annotations

import importlib

#: public name -> the submodule that defines it; imported on first use (PEP 562), so that
#: `wattcast compare` or `wattcast project` do not pay for the measurement modules they never use
_WHERE = {
    "CodeCarbonBackend": "backends", "CompositeBackend": "backends", "EnergyBackend": "backends",
    "FakeBackend": "backends", "NVMLBackend": "backends", "Reading": "backends", "make_backend": "backends",
    "Campaign": "config", "GenerationParams": "config", "InputParams": "config", "MeasureConfig": "config",
    "load_campaign": "config", "make_config": "config",
    "MeasureError": "errors",
    "TINY_MODELS": "models", "list_models": "models", "resolve_model": "models",
    "Trial": "run", "build_record": "run", "run_trial": "run",
    "ResultStore": "store", "read_store_jsonl": "store", "records_frame": "store",
    "Monitor": "window", "WindowResult": "window",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"measure.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'measure' has no attribute {name!r}")


__all__ = [
    "Campaign", "CodeCarbonBackend", "CompositeBackend", "EnergyBackend", "FakeBackend", "GenerationParams",
    "InputParams", "MeasureConfig", "MeasureError", "Monitor", "NVMLBackend", "Reading", "ResultStore",
    "TINY_MODELS", "Trial", "WindowResult", "build_record", "list_models", "load_campaign", "make_backend",
    "make_config", "read_store_jsonl", "records_frame", "resolve_model", "run_trial",
]
