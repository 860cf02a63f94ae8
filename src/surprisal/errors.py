"""The package's error types: :class:`SurprisalError` and its one refinement."""

from __future__ import annotations

__all__ = ["NonFiniteError", "SurprisalError"]


class SurprisalError(ValueError):
    """Raised when an input or a model cannot be scored as asked; the message says the fix.

    It subclasses :class:`ValueError`, so ``except ValueError`` catches it too. Wrong *types*
    (a number where a string belongs) raise :class:`TypeError` instead.
    """


class NonFiniteError(SurprisalError):
    """Some tokens got a NaN or infinite log-probability (a numerical overflow, usually in
    float16). ``indices`` are the positions of the affected texts in the call's input; their
    scores are never summed or averaged."""

    def __init__(self, message: str, indices: list[int]) -> None:
        super().__init__(message)
        self.indices = indices
