"""Self-contained HTML token heatmaps and pages (public name of :mod:`surprisal.report.page`).

``surprisal.viz`` is the documented name; the code lives in :mod:`surprisal.report`.
"""

from __future__ import annotations

from .report.page import heatmap, notebook_html, page, token_heatmap_html, write_html

__all__ = ["heatmap", "notebook_html", "page", "token_heatmap_html", "write_html"]
