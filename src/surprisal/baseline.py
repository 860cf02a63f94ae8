"""The null model: what a metric is worth under a model that knows nothing.

A metric's *chance level* is its value, on the same items, under a same-architecture,
same-tokenizer model with random weights (see ``docs/concepts.md``, "Chance levels"). Such
a model still prefers texts with fewer tokens and some token patterns over others, so the
chance level of an AUC or a pair accuracy is often far from 0.5; comparing with it is what
separates knowledge from tokenization.

:func:`null_model` builds that model from an :class:`~surprisal.lm.LM`'s config (seeded, same
dtype and device). It holds a second copy of the weights and doubles the scoring work:
cheap for small models, a real cost for large ones (pass ``baseline=None`` to
:func:`surprisal.grammar.membership` to skip it, or your own :class:`~surprisal.lm.LM`).

>>> from surprisal.testing import tiny_lm
>>> lm = tiny_lm("gpt2")
>>> null = null_model(lm, seed=0)
>>> null.tokenizer is lm.tokenizer, type(null.model) is type(lm.model), null.bos_policy
(True, True, 'bos')
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import SurprisalError
from .lm import LM

__all__ = ["NULL_SEED_OFFSET", "null_model", "resolve_baseline"]

#: Added to the caller's seed before drawing the null weights, so that the null model of a
#: model built with ``torch.manual_seed(seed)`` (as :func:`surprisal.testing.tiny_lm` does)
#: is not that very model.
NULL_SEED_OFFSET = 1_000_003


def null_model(lm: LM, *, seed: int = 0) -> LM:
    """A random-weight twin of ``lm``: same architecture, config, tokenizer, dtype, device
    and boundary-token policy, weights drawn by the architecture's own initialiser.

    The global torch RNG is left as it was. Args: ``lm``, the model to mirror; ``seed``:
    the weights are drawn with ``torch.manual_seed(seed + NULL_SEED_OFFSET)``.
    """
    if not isinstance(lm, LM):
        raise TypeError(f"null_model expects a surprisal.LM, got {type(lm).__name__}")
    config = lm.model.config
    cls: Any = type(lm.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + NULL_SEED_OFFSET)
        try:
            model = cls._from_config(config)
        except Exception as e:  # an architecture that cannot be rebuilt from its config
            raise SurprisalError(
                f"cannot build a random-weight {cls.__name__} from its config ({e}); pass "
                "baseline=None to skip the chance levels, or baseline=<an LM> of your own"
            ) from None
    model = model.to(dtype=lm.dtype, device=lm.device).eval()
    return LM(
        model,
        lm.tokenizer,
        add_bos=lm.add_bos,
        max_length=lm.max_length,
        name=f"{lm.name} (random weights, seed {seed})",
        parse_special_tokens=lm.parse_special_tokens,
    )


def resolve_baseline(lm: LM, baseline: object, *, seed: int) -> LM | None:
    """The null model a grammar experiment compares with: ``"random"`` ->
    :func:`null_model`, an :class:`LM` -> itself (its tokenizer must be ``lm``'s), None -> None."""
    if baseline is None:
        return None
    if isinstance(baseline, str):
        if baseline != "random":
            raise SurprisalError(
                f"baseline must be 'random', None or an LM, got {baseline!r}; 'random' builds "
                "a same-architecture model with random weights"
            )
        return null_model(lm, seed=seed)
    if isinstance(baseline, LM):
        if baseline.tokenizer.get_vocab() != lm.tokenizer.get_vocab():
            raise SurprisalError(
                "the baseline LM has a different tokenizer; chance levels need the same "
                "tokens (use baseline='random' for a random-weight twin of the model)"
            )
        return baseline
    raise TypeError(
        f"baseline must be 'random', None or a surprisal.LM, got {type(baseline).__name__}"
    )
