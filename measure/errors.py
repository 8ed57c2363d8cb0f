"""Errors a user can cause. The CLI turns these into one message and exit status 2."""

from __future__ import annotations


class MeasureError(Exception):
    """A bad input or missing hardware: a config field, a file, a device.

    ``where`` names the field, file or device at fault; the message says what to do.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where

    def __str__(self) -> str:  # pragma: no cover - trivial
        msg = super().__str__()
        return f"{self.where}: {msg}" if self.where else msg
