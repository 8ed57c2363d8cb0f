"""wattcast.measure: per-inference energy of the ten tasks of "Power Hungry Processing".

Importing this package (and ``measure.cli``) never imports torch: the runners import
torch, transformers and diffusers lazily, so the base ``wattcast`` CLI works without the
``[measure]`` extra. See docs/measure.md for the protocol and the record schema in
docs/architecture.md.
"""

from __future__ import annotations

from measure.errors import MeasureError

__all__ = ["MeasureError"]
