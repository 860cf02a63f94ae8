"""Presentation: self-contained HTML pages and hand-written SVG plots for every result.

:mod:`surprisal.report.page` (pages, token heatmaps), :mod:`surprisal.report.plots`
(histograms, ROC curves, error bars), and one module per result kind:
:mod:`surprisal.report.delta` (:class:`surprisal.Delta`) and
:mod:`surprisal.report.grammar` (membership and generation). Results keep thin
``to_html`` methods that call these; nothing here computes a statistic. The public
names of the page helpers are in :mod:`surprisal.viz` (a function here named like its
module would hide the module).
"""

from __future__ import annotations
