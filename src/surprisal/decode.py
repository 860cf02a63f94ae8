"""What decoding does to a model's own text: generate at several temperatures and measure.

:func:`decoding` continues each prompt ``samples`` times at each temperature (0 is greedy:
the argmax at every step), on token ids with a KV cache, and records for every generated
token the entropy of the full next-token distribution it came from and its own surprisal,
both at temperature 1 (the model's distribution, whatever temperature drew the token).
Human continuations of the same prompts (``reference=``) are scored the same way
(teacher-forced) for the comparison of Holtzman et al. (2020). The numbers are read off a
:class:`~surprisal.decoding_result.Decoding`.

Generation:

* a prompt is tokenized as everywhere in the package (:func:`surprisal.tokenize.encode`,
  the model's boundary token first, see ``LM.bos_policy``); generated ids are fed back as
  they are, never decoded and re-tokenized;
* rows (prompt x sample) are generated in batches, left-padded, with position ids that
  count real tokens only, so a row's numbers do not depend on the rows beside it;
* sampling: each row ``(prompt i, sample j)`` draws from its own ``torch.Generator``
  seeded from ``(seed, i, j)``: reproducible, independent of ``batch_size`` and of the
  other prompts, the same random stream at every temperature (common random numbers),
  and no global RNG is touched. Temperature ``T > 0`` samples from ``softmax(z / T)``;
  ``T = 0`` takes the argmax (the first one on ties). Greedy decoding is deterministic, so
  at ``T = 0`` each prompt is generated once and the continuation stands for every sample;
* ``stop_at_eos=False`` (default): every continuation has exactly ``max_new_tokens``
  tokens (EOS, if drawn, is a token like any other), so repetition is compared over equal
  lengths at every temperature; a temperature whose text ended early would otherwise look
  less repetitive only for being shorter. ``stop_at_eos=True`` ends a continuation at EOS
  (not included; a continuation may then be empty).

Dimension letters: B rows, P prompt tokens, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._sampling import draw_tokens, next_token_stats, prefill, run_padded
from .decoding_result import Decoding
from .errors import SurprisalError
from .lm import LM, resolve_model
from .repetition import MIN_REPEATS, MIN_TOKENS, find_loop
from .tokenize import check_texts, encode

__all__ = ["Decoding", "decoding"]


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r:.40})")
    if value < low:
        raise SurprisalError(f"{name} must be at least {low}, got {value}")
    return int(value)


def _check_temperatures(temperatures: object) -> tuple[float, ...]:
    if isinstance(temperatures, (int, float)) and not isinstance(temperatures, bool):
        temperatures = (temperatures,)
    if isinstance(temperatures, (str, bytes)) or not isinstance(temperatures, Sequence):
        raise TypeError(
            f"temperatures must be a sequence of numbers such as (0.0, 0.7, 1.0), got "
            f"{type(temperatures).__name__}"
        )
    out: list[float] = []
    for t in temperatures:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)):
            raise TypeError(f"each temperature must be a number, got {type(t).__name__} {t!r}")
        v = float(t)
        if not math.isfinite(v) or v < 0:
            raise SurprisalError(
                f"temperatures must be finite and >= 0 (0 is greedy), got {t!r}; "
                "e.g. temperatures=(0.0, 0.7, 1.0)"
            )
        out.append(v)
    if not out:
        raise SurprisalError("temperatures is empty; give at least one, e.g. (0.0, 1.0)")
    if len(set(out)) != len(out):
        raise SurprisalError(f"temperatures has duplicates: {tuple(out)}")
    return tuple(out)


def _row_seed(seed: int, prompt: int, sample: int) -> int:
    """The seed of row (prompt, sample): a function of the three numbers only."""
    ss = np.random.SeedSequence([seed, prompt, sample])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))  # < 2**63


@torch.no_grad()
def _generate(
    lm: LM,
    prompt_ids: list[list[int]],
    rows: list[tuple[int, int]],
    temperature: float,
    *,
    max_new_tokens: int,
    seed: int,
    stop_at_eos: bool,
    batch_size: int,
) -> tuple[list[list[int]], list[list[float]], list[list[float]], list[bool]]:
    """Continue each row ``(prompt, sample)``: ids, entropies, log-probs, ended at EOS."""
    n = len(rows)
    ids: list[list[int]] = [[] for _ in range(n)]
    ent: list[list[float]] = [[] for _ in range(n)]
    lps: list[list[float]] = [[] for _ in range(n)]
    ended = [False] * n
    eos = lm.tokenizer.eos_token_id if stop_at_eos else None
    # longest prompts first: rows of similar length share a batch (less padding)
    order = sorted(range(n), key=lambda r: -len(prompt_ids[rows[r][0]]))
    for b0 in range(0, n, batch_size):
        batch = order[b0 : b0 + batch_size]
        gens = [
            torch.Generator().manual_seed(_row_seed(seed, *rows[r]))
            for r in batch
            if temperature > 0
        ]

        def draw(logits: torch.Tensor, gens: list[torch.Generator] = gens) -> torch.Tensor:
            if temperature == 0:
                return logits.argmax(dim=-1)  # (B,)
            probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()  # (B, V)
            return torch.cat(
                [torch.multinomial(probs[b], 1, generator=g) for b, g in enumerate(gens)]
            )

        cache, logits, mask, next_pos = prefill(
            lm.model, [prompt_ids[rows[r][0]] for r in batch], lm.device
        )
        drawn = draw_tokens(
            lm.model,
            cache,
            logits,
            mask,
            next_pos,
            max_new_tokens=max_new_tokens,
            draw=draw,
            eos_id=eos,
            track=True,
        )
        assert drawn.entropy is not None and drawn.logprob is not None
        for k, r in enumerate(batch):
            ids[r], ent[r], lps[r] = drawn.ids[k], drawn.entropy[k], drawn.logprob[k]
            ended[r] = drawn.finished[k]
    return ids, ent, lps, ended


@torch.no_grad()
def _score_reference(
    lm: LM, prompt_ids: list[list[int]], ref_ids: list[list[int]], batch_size: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Teacher-forced entropies and log-probs (float32, nats) of each reference's tokens
    after its prompt."""
    n = len(prompt_ids)
    ent: list[list[float]] = [[] for _ in range(n)]
    lps: list[list[float]] = [[] for _ in range(n)]
    todo = [i for i in range(n) if ref_ids[i]]
    for b0 in range(0, len(todo), batch_size):
        batch = todo[b0 : b0 + batch_size]
        seqs = [prompt_ids[i] + ref_ids[i] for i in batch]
        out, _ = run_padded(lm.model, seqs, lm.device, use_cache=False, last_only=False)
        width = max(len(s) for s in seqs)
        for k, i in enumerate(batch):
            P, R = len(prompt_ids[i]), len(ref_ids[i])
            start = width - len(seqs[k]) + P - 1  # the logits that predict the first ref token
            z = out.logits[k, start : start + R]  # (R, V)
            e, lp = next_token_stats(z, torch.tensor(ref_ids[i], dtype=torch.long))
            ent[i], lps[i] = e.tolist(), lp.tolist()
    return ent, lps


def decoding(
    prompts: str | Sequence[str],
    *,
    model: LM | str | Any,
    temperatures: Sequence[float] = (0.0, 0.7, 1.0, 1.3),
    samples: int = 4,
    max_new_tokens: int = 64,
    seed: int = 0,
    reference: Sequence[str] | None = None,
    stop_at_eos: bool = False,
    batch_size: int = 32,
    loop_min_repeats: int = MIN_REPEATS,
    loop_min_tokens: int = MIN_TOKENS,
    n_boot: int = 2000,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Decoding:
    """Generate from prompts at several temperatures; measure repetition, loops, entropy
    and surprisal along the generated text.

    >>> import surprisal
    >>> from surprisal.testing import tiny_lm
    >>> d = surprisal.decoding(["The cat"], model=tiny_lm("gpt2"), temperatures=(0.0, 1.0),
    ...                        samples=2, max_new_tokens=8)
    >>> len(d.token_ids[0.0]), len(d.token_ids[1.0][0]), d.entropy[1.0].shape
    (2, 8, (8,))

    Args:
        prompts: the texts to continue (a str is one prompt). ``""`` starts from the
            boundary token alone (models with one).
        model: an LM, a name/path, or a ``(model, tokenizer)`` pair.
        temperatures: each >= 0; 0 is greedy decoding (argmax).
        samples: continuations per prompt and temperature (>= 1); at 0 the one greedy
            continuation stands for all of them.
        max_new_tokens: tokens generated per continuation (>= 1).
        seed: seeds the samplers (see the module docstring) and the bootstrap CIs.
        reference: human continuations, one per prompt, scored after their prompt
            (tokenized on their own, joined at the id level) and cut to their first
            ``max_new_tokens`` tokens, so repetition is compared over the same length.
        stop_at_eos: end a continuation at the tokenizer's EOS (default: never; see the
            module docstring).
        batch_size: rows (prompt x sample) generated together; results do not depend on it.
        loop_min_repeats, loop_min_tokens: the loop definition, see
            :func:`surprisal.repetition.find_loop`.
        n_boot: bootstrap resamples for the CIs over prompts.
        device, dtype: used when ``model`` is loaded by name.

    Returns:
        A :class:`~surprisal.decoding_result.Decoding`.

    Raises:
        SurprisalError: no prompts, a negative or duplicate temperature, ``samples``,
            ``max_new_tokens`` or ``batch_size`` < 1, a reference list of another length,
            or a prompt too long for the model's context.
        TypeError: a prompt or reference that is not a str, a non-integer count.
    """
    texts = check_texts(prompts, "prompts")
    if not texts:
        raise SurprisalError("prompts is empty; give at least one prompt to continue")
    temps = _check_temperatures(temperatures)
    samples = _check_int(samples, "samples", 1)
    max_new_tokens = _check_int(max_new_tokens, "max_new_tokens", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    seed = _check_int(seed, "seed", 0)
    find_loop([], min_repeats=loop_min_repeats, min_tokens=loop_min_tokens)  # checks them
    n_boot = _check_int(n_boot, "n_boot", 1)
    refs = None
    if reference is not None:
        refs = check_texts(reference, "reference")
        if len(refs) != len(texts):
            raise SurprisalError(
                f"reference has {len(refs)} texts but there are {len(texts)} prompts; give "
                "one human continuation per prompt"
            )
    lm = resolve_model(model, device=device, dtype=dtype)
    boundary = [lm.boundary_id] if lm.boundary_id is not None else []
    enc = encode(lm.tokenizer, texts, parse_special_tokens=lm.parse_special_tokens)
    prompt_ids = [boundary + e.ids for e in enc]
    for i, p in enumerate(prompt_ids):
        if not p:
            raise SurprisalError(
                f"prompts[{i}] is empty and the model has no boundary token (bos_policy "
                f"{lm.bos_policy!r}) to start from; give a non-empty prompt"
            )
        if len(p) + max_new_tokens > lm.max_length:
            raise SurprisalError(
                f"prompts[{i}] ({len(p)} tokens) plus max_new_tokens={max_new_tokens} exceeds "
                f"the model's context of {lm.max_length} tokens; shorten the prompt or "
                "lower max_new_tokens"
            )
    ids: dict[float | str, list[list[int]]] = {}
    ent: dict[float | str, list[list[float]]] = {}
    lps: dict[float | str, list[list[float]]] = {}
    ended: dict[float | str, list[bool]] = {}
    for T in temps:
        k = 1 if T == 0 else samples  # greedy: one continuation per prompt, shared
        rows = [(i, j) for i in range(len(texts)) for j in range(k)]
        got = _generate(
            lm,
            prompt_ids,
            rows,
            T,
            max_new_tokens=max_new_tokens,
            seed=seed,
            stop_at_eos=stop_at_eos,
            batch_size=batch_size,
        )
        rep = samples // k  # greedy's row of prompt i stands for all its samples
        g_ids, g_ent, g_lps, g_ended = got
        ids[T] = [list(v) for v in g_ids for _ in range(rep)]
        ent[T] = [list(v) for v in g_ent for _ in range(rep)]
        lps[T] = [list(v) for v in g_lps for _ in range(rep)]
        ended[T] = [v for v in g_ended for _ in range(rep)]
    if refs is not None:
        ref_enc = encode(lm.tokenizer, refs, parse_special_tokens=lm.parse_special_tokens)
        ref_ids = [e.ids[:max_new_tokens] for e in ref_enc]
        ids["reference"] = ref_ids
        ent["reference"], lps["reference"] = _score_reference(lm, prompt_ids, ref_ids, batch_size)
        ended["reference"] = [False] * len(refs)
    tok = lm.tokenizer
    return Decoding(
        model=lm.name,
        bos_policy=lm.bos_policy,
        prompts=tuple(texts),
        reference=None if refs is None else tuple(refs),
        temperatures=temps,
        samples=samples,
        max_new_tokens=max_new_tokens,
        seed=seed,
        stop_at_eos=stop_at_eos,
        prompt_ids=prompt_ids,
        token_ids=ids,
        tokens={c: [tok.convert_ids_to_tokens(r) for r in v] for c, v in ids.items()},
        pieces={c: [[tok.decode([t]) for t in r] for r in v] for c, v in ids.items()},
        texts={c: [tok.decode(r) for r in v] for c, v in ids.items()},
        entropy_tokens={c: [np.asarray(r, np.float32) for r in v] for c, v in ent.items()},
        surprisal_tokens={c: [-np.asarray(r, np.float32) for r in v] for c, v in lps.items()},
        ended={c: np.asarray(v, dtype=bool) for c, v in ended.items()},
        loop_min_repeats=loop_min_repeats,
        loop_min_tokens=loop_min_tokens,
        n_boot=n_boot,
    )
