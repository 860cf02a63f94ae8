"""surprisal: how surprising is a text to a language model?

Per-token log-probabilities and surprisal of texts under any Hugging Face causal LM, on a
fused, memory-bounded scoring loop; explanation-induced surprise reduction; grammar
membership experiments. All log-probabilities are natural logs (nats), float32.

>>> import surprisal
>>> from surprisal.testing import tiny_lm
>>> s = surprisal.score(["The cat sat on the mat."], model=tiny_lm("gpt2"))
>>> s.bos_policy, len(s[0]) == len(s[0].logprobs)
('bos', True)

``import surprisal`` is cheap (no torch, no transformers): the public names below and the
submodules (``surprisal.grammar``, ``surprisal.testing``, ...) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import NonFiniteError, SurprisalError

if TYPE_CHECKING:  # the lazy names, for type checkers and IDEs
    from . import grammar as grammar
    from . import stats as stats
    from . import testing as testing
    from . import viz as viz
    from .api import score, score_iter
    from .calibrate import Calibration, calibrate_temperature
    from .corpus import FileRun, score_to_file
    from .decode import decoding
    from .decoding_result import Decoding
    from .deltas import Delta, DeltaSummary, delta
    from .divergence import Divergences
    from .likelihood import loglikelihood
    from .lm import LM, clear_cache, load
    from .ranking import Ranking, rank_explanations
    from .results import Scores, TextScore
    from .words import WordScore

__version__ = "0.1.0"

__all__ = [
    "LM",
    "Calibration",
    "Decoding",
    "Delta",
    "DeltaSummary",
    "Divergences",
    "FileRun",
    "NonFiniteError",
    "Ranking",
    "Scores",
    "SurprisalError",
    "TextScore",
    "WordScore",
    "__version__",
    "calibrate_temperature",
    "clear_cache",
    "decoding",
    "delta",
    "load",
    "loglikelihood",
    "rank_explanations",
    "score",
    "score_iter",
    "score_to_file",
]

# Public name -> the module that defines it; imported on first access (PEP 562).
_LAZY = {
    "score": "api",
    "score_iter": "api",
    "FileRun": "corpus",
    "score_to_file": "corpus",
    "Decoding": "decoding_result",
    "decoding": "decode",
    "Delta": "deltas",
    "DeltaSummary": "deltas",
    "Divergences": "divergence",
    "Calibration": "calibrate",
    "calibrate_temperature": "calibrate",
    "Ranking": "ranking",
    "delta": "deltas",
    "rank_explanations": "ranking",
    "LM": "lm",
    "clear_cache": "lm",
    "load": "lm",
    "loglikelihood": "likelihood",
    "Scores": "results",
    "TextScore": "results",
    "WordScore": "words",
}
_SUBMODULES = frozenset({"grammar", "stats", "testing", "viz"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'surprisal' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


def _warn_if_shadowed() -> None:
    """Warn when PyPI's unrelated ``surprisal`` distribution is installed in the directory
    this package was imported from: both install a top-level ``surprisal`` package, so one's
    files overwrite the other's. One directory listing (importlib.metadata would double the
    import time)."""
    import os

    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        names = os.listdir(site)
    except OSError:
        return
    # Ours is surprisal_lm-*.dist-info; the other's metadata is surprisal-VERSION.dist-info.
    other = sorted(
        n for n in names if n.startswith("surprisal-") and n.endswith((".dist-info", ".egg-info"))
    )
    if not other:
        return
    import warnings

    warnings.warn(
        f"the unrelated PyPI package 'surprisal' ({other[0]}) is installed in {site} beside "
        "'surprisal-lm'; both use the import name 'surprisal', so their files shadow each "
        "other. Fix: pip uninstall -y surprisal && pip install --force-reinstall surprisal-lm",
        stacklevel=3,
    )


_warn_if_shadowed()
