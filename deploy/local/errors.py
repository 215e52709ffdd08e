"""The one exception of the local stack."""

from __future__ import annotations


class StackError(RuntimeError):
    """A failure with a message meant for the person running the stack."""
