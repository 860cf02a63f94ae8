"""The grammar reports' public name; the code lives in :mod:`surprisal.report.grammar`."""

from __future__ import annotations

from ..report.grammar import (
    generation_html,
    generation_sections,
    membership_html,
    membership_sections,
)

__all__ = ["generation_html", "generation_sections", "membership_html", "membership_sections"]
