"""The versions a result was computed with: surprisal, torch and transformers.

Written into every settings file (``*.meta.json``) and result's metadata, so a number can
be traced to the code that produced it.

>>> from surprisal._versions import versions
>>> sorted(versions())
['surprisal', 'torch', 'transformers']
"""

from __future__ import annotations

__all__ = ["versions"]


def versions() -> dict[str, str]:
    """``{"surprisal": ..., "torch": ..., "transformers": ...}``, each its ``__version__``.

    torch and transformers are imported (a scoring call has imported them already).
    """
    import torch
    import transformers

    from . import __version__

    return {
        "surprisal": __version__,
        "torch": str(torch.__version__),
        "transformers": str(transformers.__version__),
    }
