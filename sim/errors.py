"""Errors about the user's input: they name the file, the field, the value and what is allowed.

The command line turns an :class:`InputError` into one readable message and exit status 2,
without a traceback (see :mod:`sim.reporting.cli`).
"""
from __future__ import annotations


class InputError(Exception):
    """Bad user input (scenario file, override, table) that the model cannot run with."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 value: object = None, allowed: str | None = None):
        self.file, self.field, self.value, self.allowed = file, field, value, allowed
        parts = []
        if file:
            parts.append(str(file))
        if field:
            parts.append(f"field '{field}'")
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if value is not None:
            text += f" (got {value!r})"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)
