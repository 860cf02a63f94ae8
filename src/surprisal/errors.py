"""The package's one error type."""

from __future__ import annotations

__all__ = ["SurprisalError"]


class SurprisalError(ValueError):
    """Raised when an input or a model cannot be scored as asked; the message says the fix.

    It subclasses :class:`ValueError`, so ``except ValueError`` catches it too. Wrong *types*
    (a number where a string belongs) raise :class:`TypeError` instead.
    """
