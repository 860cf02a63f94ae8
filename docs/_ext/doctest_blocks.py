"""A griffe extension for the API reference: doctest blocks as code, Sphinx roles as code.

The package's docstrings put ``>>>`` examples in their running text (not under an
"Examples:" heading). Markdown would read ``>>>`` as three nested block quotes, so this
extension wraps every doctest block -- from a ``>>>`` line to the next blank line -- in a
fenced ``pycon`` code block before mkdocstrings renders the docstring. It changes only
what the documentation shows; the source docstrings stay as they are (and stay doctests).
Sphinx roles such as ``:func:`surprisal.score``` are shown as plain code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# Sphinx cross-reference roles (:func:`x`, :class:`~a.B`) would show up verbatim in Markdown.
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


def fence_doctests(text: str) -> str:
    """Wrap each doctest block of ``text`` in a fenced code block at its own indentation."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and (stripped.startswith(">>> ") or stripped == ">>>"):
            indent = line[: len(line) - len(stripped)]
            if out and out[-1].strip():
                out.append("")  # a fence needs a blank line before it inside a paragraph
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return _ROLE.sub(r"`\1`", "\n".join(out))


class DoctestBlocks(griffe.Extension):
    """Fence the doctest blocks of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
