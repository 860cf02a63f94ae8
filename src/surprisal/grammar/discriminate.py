"""Does the model know the grammar? Membership discrimination with and without an explanation.

For every candidate string ``s`` (members and guaranteed non-members) and every condition
``c`` (``none``, ``explanation``, ``control``, ``shots``), the score is the total
log-probability, in nats, of ``render(s) + end`` after the condition's prefix:

* ``none``: ``[boundary] + tokens(render(s) + end)``
* ``explanation``: ``[boundary] + tokens(explanation + "\\n") + tokens(render(s) + end)``
* ``control``: the same with the control text
* ``shots``: ``[boundary] + tokens(k example members, each followed by end) + ...``

The end marker (default a newline) is scored too: membership depends on where a string
stops. Each prefix is encoded once and shared by every string (one engine call in all).

Metrics, per condition: ROC-AUC of the log-probability (members should score higher),
minimal-pair accuracy (a member beats its one-edit non-member), accuracy at a threshold
chosen on a held-out calibration split (never on the test strings), and the same for the
length-normalised mean and SLOR. Lifts (explanation − none, explanation − control) come
with seeded, stratified bootstrap CIs.

Chance levels are measured, not assumed (0.5 is not chance: a model that knows nothing
still prefers strings with fewer tokens): every metric is computed again on the same
strings under a null model, by default a random-weight twin of the model
(:func:`surprisal.baseline.null_model`), beside the token-count-only AUC and the
majority-class accuracy. ``above_chance`` is metric − chance with a paired bootstrap CI.
The differential reduction (the prefix's reduction on members minus that on non-members)
tells an explanation that taught the rule from one that primed the format.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .._progress import one_bar
from ..baseline import resolve_baseline
from ..core import run
from ..errors import SurprisalError
from ..lm import LM, resolve_model
from ..options import RunOptions
from ..tokenize import check_texts, encode
from .base import Grammar, check_int
from .chance import baseline_name
from .membership_result import Membership
from .prompts import end_marker, grammar_conditions
from .signature import model_and_grammar


def _candidates(
    grammar: Grammar | None,
    positives: Sequence[str] | None,
    negatives: Sequence[str] | None,
    n: int,
    min_len: int,
    max_len: int,
    negative_kinds: Sequence[str],
    seed: int,
    token_counts: Callable[[list[str]], list[int]] | None = None,
) -> tuple[list[str], list[int], list[str], list[int], list[tuple[int, int]], list[str]]:
    """The candidate strings, labels, kinds, symbol lengths, minimal pairs and their edits.
    With ``token_counts``, the random non-members match the members' token counts."""
    texts: list[str] = []
    labels: list[int] = []
    kinds: list[str] = []
    lengths: list[int] = []
    pairs: list[tuple[int, int]] = []
    edits: list[str] = []
    index: dict[str, int] = {}

    def add(t: str, label: int, kind: str, length: int) -> int:
        if t in index:
            return index[t]
        index[t] = len(texts)
        texts.append(t)
        labels.append(label)
        kinds.append(kind)
        lengths.append(length)
        return index[t]

    if grammar is None:
        if positives is None or negatives is None:
            raise SurprisalError(
                "give a grammar, or both positives=[...] and negatives=[...] (labelled strings)"
            )
        for t in check_texts(positives, "positives"):
            add(t, 1, "given", len(t))
        for t in check_texts(negatives, "negatives"):
            if t in index and labels[index[t]] == 1:
                raise SurprisalError(f"{t!r} is both a positive and a negative")
            add(t, 0, "given", len(t))
        if not any(labels) or all(labels):
            raise SurprisalError("need at least one positive and one negative string")
        return texts, labels, kinds, lengths, pairs, edits
    if positives is not None or negatives is not None:
        raise SurprisalError("give either a grammar or positives/negatives, not both")
    bad_kinds = set(negative_kinds) - {"edit", "random"}
    if bad_kinds or not negative_kinds:
        raise SurprisalError(
            f"negative_kinds must be a subset of ['edit', 'random'], got {negative_kinds}"
        )

    def length(t: str) -> int:
        return len(grammar.tokenize(t))

    if "edit" in negative_kinds:
        for p in grammar.minimal_pairs(n, min_len=min_len, max_len=max_len, seed=seed):
            g = add(p.good, 1, "member", length(p.good))
            b = add(p.bad, 0, "edit", length(p.bad))
            pairs.append((g, b))
            edits.append(p.edit)
    else:
        for t in grammar.sample(n, min_len=min_len, max_len=max_len, seed=seed):
            add(t, 1, "member", length(t))
    if "random" in negative_kinds:
        n_pos = sum(labels)
        if token_counts is None:
            negs = [
                x.text
                for x in grammar.negatives(n_pos, min_len, max_len, seed=seed + 1, kind="random")
            ]
        else:
            members = [t for t, lab in zip(texts, labels, strict=True) if lab == 1]
            negs = _token_matched(grammar, members, min_len, max_len, seed + 1, token_counts)
        for t in negs:
            add(t, 0, "random", length(t))
    return texts, labels, kinds, lengths, pairs, edits


def _token_matched(
    grammar: Grammar,
    members: list[str],
    min_len: int,
    max_len: int,
    seed: int,
    token_counts: Callable[[list[str]], list[int]],
) -> list[str]:
    """One random non-member per member with the member's token count (or the nearest count
    the pool has, lower first), drawn from a pool of random non-members at every length in
    ``[min_len, max_len]``: resampling by token-count bins, so that the token count cannot
    tell members from these non-members."""
    pool = [x.text for x in grammar.random_pool(8 * len(members) + 64, min_len, max_len, seed)]
    if not pool:
        raise SurprisalError(
            f"grammar {grammar.name!r} has no non-members with length in [{min_len}, {max_len}] "
            "to match; pass length_matched=False or widen the range"
        )
    bins: dict[int, list[str]] = {}
    for t, k in zip(pool, token_counts(pool), strict=True):
        bins.setdefault(k, []).append(t)
    rng = random.Random(seed)
    order = list(range(len(members)))
    rng.shuffle(order)
    want = token_counts(members)
    out: list[str] = []
    for i in order:
        if not bins:
            break
        k = min(bins, key=lambda b: (abs(b - want[i]), b))
        out.append(bins[k].pop())
        if not bins[k]:
            del bins[k]
    return out


def _bar_label(a: Mapping[str, Any]) -> str:
    """The label of a membership call's progress bar: the verb and the grammar."""
    g = a["grammar"]
    return f"membership {g if isinstance(g, str) else getattr(g, 'name', 'given')}"


def _scoring_passes(a: Mapping[str, Any]) -> int:
    """The scoring passes of a membership call, for its bar's ETA: the model, the twins."""
    b, model, draws = a["baseline"], a["model"], a["null_draws"]
    if b is None:
        return 1
    if isinstance(b, LM):
        return 2
    if isinstance(b, list | tuple):
        return 1 + len(b)
    if draws is None:  # the default, by model size (a name not yet loaded: the small-model one)
        draws = default_null_draws(model) if isinstance(model, LM) else 16
    return 1 + int(draws)


@one_bar(_bar_label, passes=_scoring_passes)
def membership(
    grammar: Grammar | str | None = None,
    /,
    *legacy: Any,
    model: LM | str | Any = None,
    positives: Sequence[str] | None = None,
    negatives: Sequence[str] | None = None,
    explanation: str | None = None,
    control: str | None = None,
    shots: int = 0,
    n: int = 200,
    min_len: int = 1,
    max_len: int = 20,
    negative_kinds: Sequence[str] = ("edit", "random"),
    length_matched: bool | None = None,
    baseline: Literal["random"] | LM | Sequence[LM] | None = "random",
    null_draws: int | None = None,
    end: str = "\n",
    test_fraction: float = 0.5,
    seed: int = 0,
    n_boot: int = 2000,
    batch_tokens: int | None = None,
    progress: bool | None = None,
) -> Membership:
    """Score members and non-members of a grammar under each condition.

    Args:
        grammar: a :class:`Grammar` or a zoo name (members and minimal-pair non-members are
            sampled from it), or None with ``positives`` and ``negatives`` given.
        model: an LM, a name/path, or a ``(model, tokenizer)`` pair (keyword-only; the old
            ``membership(lm, g)`` form warns until 0.3.0).
        explanation, control: prefix texts (non-blank; see
            :class:`~surprisal.conditions.Conditions`); each adds a condition. A grammar's own
            ``explanation``/``control`` are not used unless passed.
        shots: add a "shots" condition whose prefix is this many example members (sampled
            apart from the candidates), each followed by the end marker.
        n: members to sample (minimal pairs when "edit" is in ``negative_kinds``).
        min_len, max_len: member lengths, in grammar symbols.
        negative_kinds: "edit" (one edit from a member, giving minimal pairs) and/or
            "random" (random strings); all verified non-members.
        length_matched: draw the random non-members so that their token counts (string +
            end marker, under the model's tokenizer) match the members' one for one, so the
            token count cannot give members away. Default: on when there is a grammar and
            "random" is in ``negative_kinds``; off draws random strings of the members'
            symbol lengths. Either way ``length_only_auc`` says how much length leaks.
        baseline: the null models for the chance levels: ``"random"`` (default)
            random-weight twins of the model (seeds ``seed``, ``seed + 1``, ...), which rule
            out tokenization and length artifacts; a list of **no-knowledge models trained
            the same way** on matched non-grammar strings (same alphabet, same lengths; see
            :func:`surprisal.testing.no_knowledge_baselines`), which also rule out the
            generic preferences any trained model has and are what a knowledge claim
            needs; one :class:`LM` of your own; or None to skip. Every baseline model has
            the model's tokenizer and scores every string under every condition again.
        null_draws: how many random-weight twins the chance level averages over (ignored
            for given baseline models: each is one draw). Default: 16 for models up to
            100M parameters (cheap), 4 above. More draws give a narrower interval: the
            model under test is compared with the draws' spread by Student's t with
            ``draws - 1`` degrees of freedom.
        end: end marker appended to every string and scored (default newline; "eos" for the
            tokenizer's EOS token).
        test_fraction: share of strings held out to measure accuracy; the threshold is
            chosen on the rest.
        seed: sampling, split and bootstrap seed.

    >>> from surprisal import grammar
    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("gpt2", max_positions=512)
    >>> m = grammar.membership(grammar.zoo["dyck1"], model=lm, n=20, max_len=8,
    ...                        explanation=grammar.zoo["dyck1"].explanation)
    >>> m.conditions, 0.0 <= m.auc["none"] <= 1.0
    (('none', 'explanation'), True)
    """
    # stacklevel 4: the warning points at the caller, past the progress-bar decorator
    model, grammar = model_and_grammar("membership", grammar, legacy, model, stacklevel=4)
    lm = resolve_model(model)
    end_text = end_marker(lm, end)
    if not 0.0 < test_fraction < 1.0:
        raise SurprisalError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if length_matched is None:
        length_matched = grammar is not None and "random" in negative_kinds
    if null_draws is None:
        null_draws = default_null_draws(lm)
    check_int("null_draws", null_draws, minimum=1)
    if isinstance(baseline, (list, tuple)):
        if not baseline:
            raise SurprisalError("baseline=[] holds no model; pass models, 'random' or None")
        null_lms = [resolve_baseline(lm, b, seed=seed) for b in baseline]
        if any(b is lm for b in null_lms):
            raise SurprisalError("the model under test cannot be its own baseline")
        kind = "trained"
    else:
        draws = 1 if isinstance(baseline, LM) else null_draws
        null_lms = [resolve_baseline(lm, baseline, seed=seed + k) for k in range(draws)]
        kind = "" if baseline is None else ("random" if baseline == "random" else "model")

    def token_counts(strings: list[str]) -> list[int]:
        enc = encode(
            lm.tokenizer,
            [t + end_text for t in strings],
            parse_special_tokens=lm.parse_special_tokens,
        )
        return [len(e.ids) for e in enc]

    texts, labels, kinds, lengths, pairs, edits = _candidates(
        grammar,
        positives,
        negatives,
        n,
        min_len,
        max_len,
        negative_kinds,
        seed,
        token_counts if length_matched and grammar is not None else None,
    )
    conditions = grammar_conditions(
        grammar,
        explanation=explanation,
        control=control,
        shots=shots,
        end_text=end_text,
        exclude={t for t, lab in zip(texts, labels, strict=True) if lab == 1},
        min_len=min_len,
        max_len=max_len,
        seed=seed,
    )
    prefixes = {c: p or "" for c, p in conditions.prefixes().items()}
    logprob, n_tok, base_items = _score_conditions(
        lm, texts, prefixes, end_text, batch_tokens=batch_tokens, progress=progress
    )
    null_logprob = []
    for null_lm in null_lms:
        if null_lm is not None:
            lp, _, _ = _score_conditions(
                null_lm, texts, prefixes, end_text, batch_tokens=batch_tokens, progress=progress
            )
            null_logprob.append(lp)
    lab = np.array(labels, dtype=np.int64)
    test = _stratified_test_split(labels, test_fraction, seed)
    # SLOR's unigram: every calibration string, members and non-members (never the labels)
    unigram = _unigram_logprob(base_items, ~test, lm.vocab_size)
    return Membership(
        grammar=grammar.name if grammar is not None else "given",
        conditions=tuple(prefixes),
        prefixes=prefixes,
        texts=tuple(texts),
        labels=lab,
        kinds=tuple(kinds),
        lengths=np.array(lengths, dtype=np.int64),
        test=test,
        pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        logprob=logprob,
        n_tokens=n_tok,
        unigram_logprob=unigram,
        end=end_text,
        seed=seed,
        n_boot=n_boot,
        pair_edits=tuple(edits),
        null_logprob=tuple(null_logprob),
        baseline=baseline_name(null_lms, kind),
        baseline_kind=kind,
        length_matched=bool(length_matched and grammar is not None),
    )


def default_null_draws(lm: LM) -> int:
    """Random-weight twins by default: 16 for models up to 100M parameters (a pass costs
    little), 4 above."""
    n_params = sum(p.numel() for p in lm.model.parameters())
    return 16 if n_params <= 100_000_000 else 4


def _score_conditions(
    lm: LM,
    texts: list[str],
    prefixes: dict[str, str],
    end_text: str,
    *,
    batch_tokens: int | None,
    progress: bool | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[Any]]:
    """Score every string + end marker under every condition in one engine call (each
    prefix is encoded once). Returns, per condition, the (n,) total log-probabilities in nats
    and the (n,) numbers of scored tokens, and the per-text results of the "none" condition.
    """
    conds = tuple(prefixes)
    all_texts: list[str] = []
    all_ctx: list[str | None] = []
    for c in conds:
        all_texts += [t + end_text for t in texts]
        all_ctx += [prefixes[c] or None] * len(texts)
    opts = RunOptions(separator="", batch_tokens=batch_tokens, progress=progress)
    s = run(lm, all_texts, all_ctx, opts)
    n_t = len(texts)
    logprob = {c: s.total()[k * n_t : (k + 1) * n_t] * -1.0 for k, c in enumerate(conds)}
    n_tok = {
        c: np.array(
            [len(t) - t.n_unscored for t in s.items[k * n_t : (k + 1) * n_t]], dtype=np.float64
        )
        for k, c in enumerate(conds)
    }
    return logprob, n_tok, list(s.items[:n_t])


def _stratified_test_split(labels: list[int], test_fraction: float, seed: int) -> np.ndarray:
    """(n,) True for the test strings: ``test_fraction`` of each label, seeded."""
    rng = random.Random(seed)
    test = np.zeros(len(labels), dtype=bool)
    for value in (0, 1):
        idx = [i for i in range(len(labels)) if labels[i] == value]
        rng.shuffle(idx)
        test[idx[: round(len(idx) * test_fraction)]] = True
    return test


def _unigram_logprob(items: list[Any], fit: np.ndarray, vocab_size: int) -> np.ndarray:
    """(n,) log-probability, nats, of each item's tokens under an add-one smoothed unigram
    model fitted on the items where ``fit`` is True (SLOR's baseline)."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for i, item in enumerate(items):
        if fit[i]:
            np.add.at(counts, item.token_ids, 1.0)
    uni = np.log((counts + 1.0) / (counts.sum() + vocab_size))
    return np.array([float(uni[t.token_ids].sum()) for t in items])
