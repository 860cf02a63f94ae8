"""surprisal: how surprising is a text to a language model?

Per-token log-probabilities and surprisal of texts under any Hugging Face causal LM, on a
fused, memory-bounded scoring loop; explanation-induced surprise reduction; grammar
membership experiments. All log-probabilities are natural logs (nats), float32.

>>> import surprisal
>>> from surprisal.testing import tiny_lm
>>> s = surprisal.score(["The cat sat on the mat."], model=tiny_lm("gpt2"))
>>> s.bos_policy, len(s[0]) == len(s[0].logprobs)
('bos', True)
"""

from .api import score, score_iter
from .calibrate import Calibration, calibrate_temperature
from .corpus import FileRun, score_to_file
from .deltas import Delta, DeltaSummary, Divergences, Ranking, delta, rank_explanations
from .errors import NonFiniteError, SurprisalError
from .lm import LM, clear_cache, load
from .results import Scores, TextScore, WordScore

__version__ = "0.1.0"

__all__ = [
    "LM",
    "Calibration",
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
    "delta",
    "load",
    "rank_explanations",
    "score",
    "score_iter",
    "score_to_file",
]
