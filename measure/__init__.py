"""wattcast.measure: per-inference energy of the ten tasks of "Power Hungry Processing".

Importing this package (and ``measure.cli``) never imports torch: the runners import
torch, transformers and diffusers lazily, so the base ``wattcast`` CLI works without the
``[measure]`` extra. See docs/measure.md for the protocol and the record schema in
docs/architecture.md.
"""

from __future__ import annotations

from measure.backends import (
    CodeCarbonBackend,
    CompositeBackend,
    EnergyBackend,
    FakeBackend,
    NVMLBackend,
    Reading,
    make_backend,
)
from measure.config import (
    Campaign,
    GenerationParams,
    InputParams,
    MeasureConfig,
    load_campaign,
    make_config,
)
from measure.errors import MeasureError
from measure.models import TINY_MODELS, list_models, resolve_model
from measure.run import Trial, build_record, run_trial
from measure.store import ResultStore, read_records, records_frame
from measure.window import Monitor, WindowResult

__all__ = [
    "Campaign", "CodeCarbonBackend", "CompositeBackend", "EnergyBackend", "FakeBackend", "GenerationParams",
    "InputParams", "MeasureConfig", "MeasureError", "Monitor", "NVMLBackend", "Reading", "ResultStore",
    "TINY_MODELS", "Trial", "WindowResult", "build_record", "list_models", "load_campaign", "make_backend",
    "make_config", "read_records", "records_frame", "resolve_model", "run_trial",
]
