"""Measurement windows in the style of Zeus: ``begin_window(name)`` ... ``end_window(name)``.

A window always closes: :func:`window` ends it in ``finally``, so an exception in the
measured code still yields a closed record, flagged ``failed:<ExceptionType>``, and the
exception then propagates to the caller (which writes the failed record). A reading the
backend declares void (an energy counter that went backwards: ``counter-reset``) also fails
the window, with no exception: the work itself went fine, its energy is unknown; so does a
window in which any measured component read 0 J (``below-resolution``: 0 J is not a
measurement, even beside CPU and RAM estimates that always grow).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from measure.backends import COMPONENTS, EnergyBackend, Reading


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class WindowResult:
    name: str
    reading: Reading
    duration_s: float
    started_at: str
    ended_at: str
    status: str = "ok"
    error: str | None = None
    flags: list[str] = field(default_factory=list)


class Monitor:
    """Opens and closes named windows on one backend; windows may nest or overlap."""

    def __init__(self, backend: EnergyBackend) -> None:
        self.backend = backend
        self._open: dict[str, tuple[float, str, object]] = {}

    def begin_window(self, name: str) -> None:
        if name in self._open:
            raise ValueError(f"window {name!r} is already open")
        started = utc_now()
        token = self.backend.begin()
        # the clock starts after the backend's begin, so its cost is not counted as work
        self._open[name] = (time.perf_counter(), started, token)

    def end_window(self, name: str, error: BaseException | None = None) -> WindowResult:
        t0, started, token = self._open.pop(name)
        duration = time.perf_counter() - t0
        flags: list[str] = []
        try:
            reading = self.backend.end(token)
        except Exception as e:  # the backend itself failed: still a closed, flagged record
            reading = Reading()
            flags.append(f"failed:backend-{type(e).__name__}")
            error = error or e
        flags += [f for f in reading.flags if f not in flags]
        if duration < self.backend.min_window_s:
            flags.append("short-window")
        status, text = "ok", None
        if error is not None:
            status, text = "failed", f"{type(error).__name__}: {error}"
            if not any(f.startswith("failed:") for f in flags):
                flags.append(f"failed:{type(error).__name__}")
        elif reading.error:  # a void reading (counter-reset): the energy is unknown
            status, text = "failed", reading.error
            why = "counter-reset" if "counter-reset" in flags else "backend-reading"
            flags.append(f"failed:{why}")
        elif still := [c for c in COMPONENTS if getattr(reading, f"{c}_method") != "none"
                       and getattr(reading, f"{c}_j") is not None and getattr(reading, f"{c}_j") <= 0]:
            # a measured component did not move (a GPU counter at 0 J beside CPU/RAM estimates
            # included): the window is below its resolution, not free
            status = "failed"
            text = (f"the window measured 0 J of {'/'.join(c.upper() for c in still)} in {duration:.3f} s: "
                    "shorter than the energy counter resolves; raise --n")
            flags += ["below-resolution", "failed:below-resolution"]
        return WindowResult(name=name, reading=reading, duration_s=duration, started_at=started,
                            ended_at=utc_now(), status=status, error=text, flags=flags)


class WindowHandle:
    result: WindowResult | None = None


@contextmanager
def window(monitor: Monitor, name: str) -> Iterator[WindowHandle]:
    """``with window(mon, "x") as w: work()``; afterwards ``w.result`` is the closed window."""
    handle = WindowHandle()
    monitor.begin_window(name)
    err: BaseException | None = None
    try:
        yield handle
    except BaseException as e:
        err = e
        raise
    finally:
        handle.result = monitor.end_window(name, error=err)
