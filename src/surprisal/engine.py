"""The scoring loop: jobs in, per-position float32 results out, in the caller's order.

Dimension letters: B batch rows, T time (padded row length), P shared-prefix length,
H hidden size, V vocabulary, N scored positions in a batch.

A :class:`Job` is one window of one text: ``ids`` fed to the model after an optional shared
prefix, of which ``ids[score_from:]`` are scored. Jobs are sorted by (prefix, length), cut
into batches by a token budget (``B * T <= batch_tokens``, ``B * P <= 8 * batch_tokens``),
and for each batch:

1. the prefix (if any) has been run once, its KV cache is expanded over the B rows;
2. the decoder body gives hidden states (B, T, H);
3. only the scored positions are gathered, (N, H), and sent through the fused head;
4. results land in the job's own slot, so the caller's order is restored for free.

On an accelerator out-of-memory error the budget halves and the batch is retried; no job
is dropped. :func:`run_jobs` with ``plain=True`` (or an LM whose fused head failed its
probe) takes the model's own logits instead of the fused head: the plain twin.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._compat import expand_cache, is_oom
from .errors import SurprisalError
from .fields import Extras
from .head import HeadOut, fused_head, plain_head
from .lm import LM

__all__ = ["Job", "JobResult", "RunStats", "default_batch_tokens", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """One model-sized window. ``ids[j]`` for ``j >= score_from`` is scored; ``j == 0`` is
    scored from the prefix's last hidden state (needs ``prefix``). ``tail`` adds the
    distribution after the last token (only its ``bow`` value is kept)."""

    ids: tuple[int, ...]
    score_from: int
    prefix: int | None = None
    tail: bool = False


@dataclass
class JobResult:
    """One job's results: ``arrays`` maps field names (:data:`surprisal.fields.FIELDS`) to
    arrays over the job's scored tokens, (n,) or (n, K); ``tail_bow`` is the word-start mass
    after the job's last token, when the job asked for its tail; ``hidden`` is, with
    ``run_jobs(keep_hidden=True)``, what the head would read at each scored token: (n, H)
    hidden states (fused path) or (n, V) logits (plain path); the head is then not run
    and ``logprobs`` holds 0 placeholders."""

    arrays: dict[str, np.ndarray]
    tail_bow: float | None = None
    hidden: torch.Tensor | None = None

    @property
    def logprobs(self) -> np.ndarray:
        """(n,) float32 log-probabilities of the scored tokens, nats."""
        return self.arrays["logprobs"]


@dataclass
class RunStats:
    """What one call actually did: tokens fed to the model (padding included), tokens scored,
    prefix tokens encoded, forward calls and out-of-memory retries."""

    tokens_fed: int = 0
    tokens_scored: int = 0
    prefix_tokens: int = 0
    forward_calls: int = 0
    oom_retries: int = 0
    batch_tokens: int = 0

    def __add__(self, other: RunStats) -> RunStats:
        """Counts summed (two calls, or two ranks); ``batch_tokens`` is the larger budget."""
        return RunStats(
            tokens_fed=self.tokens_fed + other.tokens_fed,
            tokens_scored=self.tokens_scored + other.tokens_scored,
            prefix_tokens=self.prefix_tokens + other.prefix_tokens,
            forward_calls=self.forward_calls + other.forward_calls,
            oom_retries=self.oom_retries + other.oom_retries,
            batch_tokens=max(self.batch_tokens, other.batch_tokens),
        )


def default_batch_tokens(lm: LM) -> int:
    """A budget of padded tokens fed per batch, by device type."""
    if lm.device.type == "cuda":
        return 32768  # a few GB of activations for a 1B model; halves itself on OOM
    return 4096  # CPU: large enough to amortise per-call overhead, small enough for cache


@dataclass
class _Prefix:
    cache: object
    last_hidden: torch.Tensor  # (H,) or, for the plain path, last logits (V,)
    length: int
    own: JobResult | None = None  # the prefix's own tokens 1..P-1, scored from this forward


MAX_PADDING = 0.25  # a batch's shortest row is at least 3/4 of its longest: little padding
# A shared prefix is not fed again, only attended to: its expanded KV rows (B * P) are
# allowed to reach 8x the token budget before they cut a batch.
PREFIX_ROWS = 8
# A packed batch looks at most this many further jobs for ones that fill its rows' gaps.
PACK_SCAN = 4096


def _next_batch(
    live: list[int],
    pos: int,
    jobs: Sequence[Job],
    budget: int,
    plens: list[int],
    pack: bool,
    taken: bytearray,
) -> tuple[list[int], list[tuple[int, int]] | None]:
    """The next batch from ``live[pos:]`` (sorted longest first within a prefix group), as
    positions in ``live`` (``live[pos]`` first; ``taken`` marks positions already done),
    and for a packed batch each job's (row, offset).

    Padded: as many jobs as fit ``B * T_max <= budget`` (tokens fed) and ``B * P <=
    PREFIX_ROWS * budget`` (cached prefix rows attended to), all sharing one prefix, none
    shorter than ``(1 - MAX_PADDING) * T_max`` (so padding stays under that share).

    Packed (jobs without a prefix): rows of ``T_max`` tokens, at most ``budget // T_max``
    of them, filled first-fit in decreasing length. Once no new row may be opened, shorter
    jobs further on still fill the rows' gaps (up to ``PACK_SCAN`` of them are looked at).
    """
    first = jobs[live[pos]]
    t_max = len(first.ids)  # the longest, since the group is sorted longest first
    if pack and first.prefix is None:
        n_rows = max(1, budget // t_max)
        used = [t_max]  # tokens placed in each row; the first job fills row 0
        place = [(0, 0)]
        chosen = [pos]
        q, scanned, gap = pos + 1, 0, 0  # gap: the largest room left once rows are full
        while q < len(live) and scanned < PACK_SCAN and jobs[live[q]].prefix is None:
            n = len(jobs[live[q]].ids)
            if taken[q] or (len(used) == n_rows and n > gap):
                q += 1
                scanned += len(used) == n_rows
                continue
            row = next((r for r, u in enumerate(used) if u + n <= t_max), None)
            if row is None:
                if len(used) < n_rows:
                    row = len(used)
                    used.append(0)
                else:
                    q += 1
                    continue
            place.append((row, used[row]))
            used[row] += n
            chosen.append(q)
            if len(used) == n_rows:
                gap = t_max - min(used)
                if gap == 0:
                    break
            q += 1
        return chosen, place
    p = plens[first.prefix] if first.prefix is not None else 0
    n_max = max(1, min(budget // t_max, (PREFIX_ROWS * budget) // p if p else budget))
    t_min = t_max * (1.0 - MAX_PADDING)
    end = pos + 1
    while (
        end < len(live)
        and end - pos < n_max
        and jobs[live[end]].prefix == first.prefix
        and len(jobs[live[end]].ids) >= t_min
    ):
        end += 1
    return list(range(pos, end)), None


@torch.no_grad()
def _run_prefix(
    lm: LM, ids: Sequence[int], plain: bool, score_own: bool, chunk_bytes: int
) -> _Prefix:
    """Run a shared prefix once: its KV cache, its last state, and optionally the scores of
    its own tokens (from the same forward, so the prefix is never encoded twice)."""
    x = torch.tensor([list(ids)], dtype=torch.long, device=lm.device)  # (1, P)
    tgt = x[0, 1:]  # (P-1,)
    own = None
    if plain:
        out = lm.model(input_ids=x, use_cache=True)
        if score_own:
            logits = lm.head.tempered(out.logits[0, :-1].float())
            own = _split(plain_head(logits, tgt), [(len(tgt), False)])[0]
        return _Prefix(out.past_key_values, out.logits[0, -1].float(), len(ids), own)
    out = lm.body(input_ids=x, use_cache=True)
    h = out.last_hidden_state[0]  # (P, H)
    if score_own:
        own = _split(
            fused_head(h[:-1], tgt, lm.head, chunk_bytes=chunk_bytes), [(len(tgt), False)]
        )[0]
    return _Prefix(out.past_key_values, h[-1], len(ids), own)


@torch.no_grad()
def _run_batch(
    lm: LM,
    batch: list[Job],
    prefix: _Prefix | None,
    extras: Extras,
    plain: bool,
    padding_side: str,
    chunk_bytes: int,
    place: list[tuple[int, int]] | None = None,
    keep_hidden: bool = False,
) -> tuple[list[JobResult], int]:
    T = max(len(j.ids) for j in batch)
    P = prefix.length if prefix is not None else 0
    dev = lm.device
    pad = lm.boundary_id if lm.boundary_id is not None else 0  # masked out, any id will do
    packed = place is not None
    if place is not None:
        # Several jobs per row; position ids restart at 0 for each, which is how
        # transformers tells packed sequences apart (no attention across them).
        where = place
        B = 1 + max(r for r, _ in where)
    else:
        where = [(b, 0) for b in range(len(batch))]
        B = len(batch)
    ids = torch.full((B, T), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((B, T), dtype=torch.long)  # (B, T)
    pos = torch.zeros((B, T), dtype=torch.long)  # (B, T)
    starts = []  # flat index of each job's first token
    for (row, off), job in zip(where, batch, strict=True):
        L = len(job.ids)
        s = off + (T - L if padding_side == "left" and not packed else 0)
        assert not bool(mask[row, s : s + L].any()), "two jobs placed on the same positions"
        ids[row, s : s + L] = torch.tensor(job.ids)
        mask[row, s : s + L] = 1
        pos[row, s : s + L] = torch.arange(P, P + L)  # positions continue after the prefix
        starts.append(row * T + s)
    if packed:
        for row in range(B):  # the free tail of a row is one more sequence, never read
            tail = int(mask[row].sum())
            pos[row, tail:] = torch.arange(T - tail)

    kwargs: dict[str, object] = {"input_ids": ids.to(dev), "position_ids": pos.to(dev)}
    if not packed:
        attn = (
            mask if prefix is None else torch.cat([torch.ones((B, P), dtype=torch.long), mask], 1)
        )
        kwargs["attention_mask"] = attn.to(dev)
    if prefix is not None:
        kwargs["past_key_values"] = expand_cache(prefix.cache, B)
        kwargs["use_cache"] = True
    else:
        kwargs["use_cache"] = False

    # Where each scored position's predictor lives: flat index into (B*T) rows, or B*T for
    # the prefix's last state. Targets are the scored tokens; a tail row gets target 0.
    src: list[int] = []
    tgt: list[int] = []
    counts: list[tuple[int, bool]] = []
    for b, job in enumerate(batch):
        s = starts[b]
        L = len(job.ids)
        n = 0
        for j in range(job.score_from, L):
            src.append(B * T if j == 0 else s + j - 1)
            tgt.append(job.ids[j])
            n += 1
        if job.tail:
            src.append(s + L - 1)
            tgt.append(0)
        counts.append((n, job.tail))
    src_t = torch.tensor(src, dtype=torch.long, device=dev)  # (N,)
    tgt_t = torch.tensor(tgt, dtype=torch.long, device=dev)  # (N,)
    bow_mask = lm.bow_mask if extras.bow else None

    if plain:
        logits = lm.model(**kwargs).logits  # (B, T, V)
        V = logits.shape[-1]
        flat = logits.reshape(B * T, V)
        if prefix is not None:
            flat = torch.cat([flat, prefix.last_hidden[None].to(flat.dtype)], 0)
        if bow_mask is not None and bow_mask.shape[0] != V:
            bow_mask = bow_mask[:V]
        dev_out = flat.device  # the last device under a device_map
        rows = lm.head.tempered(flat[src_t.to(dev_out)])  # (N, V)
        out = (
            _no_head(rows)
            if keep_hidden
            else plain_head(
                rows,
                tgt_t.to(dev_out),
                entropy=extras.entropy,
                rank=extras.rank,
                top_k=extras.top_k,
                bow_mask=None if bow_mask is None else bow_mask.to(dev_out),
            )
        )
        del logits, flat
    else:
        hidden = lm.body(**kwargs).last_hidden_state  # (B, T, H)
        H = hidden.shape[-1]
        flat = hidden.reshape(B * T, H)
        if prefix is not None:
            flat = torch.cat([flat, prefix.last_hidden[None].to(flat.dtype)], 0)
        rows = flat[src_t.to(flat.device)]  # (N, H); fused_head moves it to the head's device
        out = (
            _no_head(rows)
            if keep_hidden
            else fused_head(
                rows,
                tgt_t,
                lm.head,
                entropy=extras.entropy,
                rank=extras.rank,
                top_k=extras.top_k,
                bow_mask=bow_mask,
                chunk_bytes=chunk_bytes,
            )
        )
        del hidden, flat
    res = _split(out, counts)
    if keep_hidden:
        i = 0
        for r, (n, tail) in zip(res, counts, strict=True):
            r.hidden = rows[i : i + n]
            i += n + tail
    return res, B * T


def _no_head(rows: torch.Tensor) -> HeadOut:
    """What ``keep_hidden`` returns instead of the head's results: log-probabilities of 0,
    placeholders that mark the scored tokens (the caller runs its own head on the kept
    rows, once, and replaces them)."""
    return {"logprobs": torch.zeros(rows.shape[0], device=rows.device)}


def _split(out: HeadOut, counts: list[tuple[int, bool]]) -> list[JobResult]:
    """Cut the head's (N,) outputs into per-job arrays; one device-to-host copy per field."""
    host = {k: v.detach().cpu().numpy() for k, v in out.items()}
    res = []
    i = 0
    for n, tail in counts:
        r = JobResult({k: v[i : i + n] for k, v in host.items()})
        i += n
        if tail:
            r.tail_bow = float(host["bow"][i]) if "bow" in host else None
            i += 1
        res.append(r)
    return res


def run_jobs(
    lm: LM,
    jobs: Sequence[Job],
    prefixes: Sequence[Sequence[int]] = (),
    *,
    extras: Extras | None = None,
    batch_tokens: int | None = None,
    padding_side: str = "right",
    plain: bool | None = None,
    progress: bool | None = None,
    chunk_bytes: int | None = None,
    stats: RunStats | None = None,
    prefix_scores: dict[int, JobResult] | None = None,
    pack: bool | None = None,
    keep_hidden: bool = False,
) -> list[JobResult]:
    """Score every job; results are returned in the order of ``jobs``.

    Args:
        lm: the model.
        jobs: windows to score; ``job.prefix`` indexes ``prefixes``.
        prefixes: shared prefixes (token ids); each is run through the model once.
        extras: optional outputs.
        batch_tokens: budget of padded tokens fed per batch (see _next_batch).
        padding_side: "right" or "left"; results do not depend on it.
        plain: force the plain twin (default: the LM's choice).
        progress: show a tqdm bar (default: only for more than 8 batches).
        chunk_bytes: head chunk size (see :mod:`surprisal.head`).
        stats: filled with counts of what was done.
        prefix_scores: if given, filled with each run prefix's own token scores (tokens
            1..P-1 of the prefix, from the forward that builds its cache).
        pack: put several jobs in one row (jobs without a prefix), so no padding is fed;
            default: the LM's ``pack`` setting. Needs a model that passed the packing probe.
        keep_hidden: return, per job, what the head would read at each scored token
            (``JobResult.hidden``: (n, H) hidden states, or (n, V) logits on the plain path)
            *instead of* running the head (``logprobs`` 0 placeholders, no extras; a prefix's
            own scores are still computed): for callers that run one head of their own over
            rows from several calls (divergence, temperature search), so no head runs twice.
    """
    from .head import CPU_CHUNK_BYTES, DEFAULT_CHUNK_BYTES

    extras = extras if extras is not None else Extras()
    if padding_side not in ("right", "left"):
        raise SurprisalError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    budget = int(batch_tokens or default_batch_tokens(lm))
    if budget < 1:
        raise SurprisalError(
            f"batch_tokens must be a positive number of tokens, got {batch_tokens}"
        )
    use_plain = (not lm.fused) if plain is None else plain
    use_pack = lm.pack if pack is None else bool(pack)
    if use_pack and not lm.can_pack:
        raise SurprisalError(
            f"pack=True, but {type(lm.model).__name__} with attention "
            f"{lm.attn_implementation!r} failed the packing probe (sequences in one row "
            "attended to each other); use pack=False"
        )
    chunk = int(
        chunk_bytes or (CPU_CHUNK_BYTES if lm.device.type == "cpu" else DEFAULT_CHUNK_BYTES)
    )
    stats = stats if stats is not None else RunStats()
    stats.batch_tokens = budget
    plens = [len(p) for p in prefixes]
    for k, p in enumerate(prefixes):
        if not p:
            raise SurprisalError(f"prefix {k} is empty; a shared prefix needs at least one token")
    for job in jobs:
        if job.score_from == 0 and job.prefix is None and (job.ids or job.tail):
            raise AssertionError("a job scoring its first token needs a prefix")
        if job.prefix is not None and plens[job.prefix] + len(job.ids) > lm.max_length:
            raise AssertionError(
                "prefix + job longer than the context; windowing should prevent this"
            )

    results: list[JobResult | None] = [None] * len(jobs)
    live = [i for i, j in enumerate(jobs) if len(j.ids) > 0]
    for i, j in enumerate(jobs):
        if not j.ids:
            results[i] = JobResult({"logprobs": np.zeros(0, np.float32)})
    # Group by prefix (None first), longest first inside a group: little padding, and each
    # prefix's cache is alive for exactly one contiguous run of batches.
    live.sort(key=lambda i: (-1 if jobs[i].prefix is None else jobs[i].prefix, -len(jobs[i].ids)))
    n_scored = sum(len(jobs[i].ids) - jobs[i].score_from for i in live)

    bar = None
    n_batches_est = max(1, sum(len(jobs[i].ids) for i in live) // budget)
    if progress or (progress is None and n_batches_est > 8):
        from tqdm.auto import tqdm

        bar = tqdm(total=n_scored, unit="tok", desc="surprisal", leave=False)

    current: tuple[int | None, _Prefix | None] = (None, None)
    pos = 0
    taken = bytearray(len(live))  # positions in live already scored (packing skips ahead)
    try:
        while pos < len(live):
            if taken[pos]:
                pos += 1
                continue
            sel, place = _next_batch(live, pos, jobs, budget, plens, use_pack, taken)
            batch_idx = [live[q] for q in sel]
            batch = [jobs[i] for i in batch_idx]
            pk = batch[0].prefix
            try:
                prefix_state = None
                if pk is not None:
                    if current[0] != pk or current[1] is None:
                        current = (None, None)
                        want_own = prefix_scores is not None
                        current = (pk, _run_prefix(lm, prefixes[pk], use_plain, want_own, chunk))
                        if prefix_scores is not None and current[1] is not None:
                            own = current[1].own
                            if own is not None:
                                prefix_scores[pk] = own
                        stats.prefix_tokens += plens[pk]
                        stats.tokens_fed += plens[pk]
                        stats.forward_calls += 1
                    prefix_state = current[1]
                out, fed = _run_batch(
                    lm,
                    batch,
                    prefix_state,
                    extras,
                    use_plain,
                    padding_side,
                    chunk,
                    place,
                    keep_hidden,
                )
            except Exception as exc:
                if not is_oom(exc):
                    raise
                if lm.device.type == "cuda":
                    torch.cuda.empty_cache()
                gc.collect()
                if len(batch) == 1:
                    raise SurprisalError(
                        f"out of memory on a single window of {len(batch[0].ids)} tokens "
                        f"(prefix {plens[pk] if pk is not None else 0}); use a smaller max_length, "
                        "a lower precision (dtype='bfloat16') or a device with more memory"
                    ) from exc
                budget = max(1, budget // 2)
                stats.oom_retries += 1
                continue
            for i, r in zip(batch_idx, out, strict=True):
                results[i] = r
            stats.forward_calls += 1
            stats.tokens_fed += fed
            scored = sum(len(j.ids) - j.score_from for j in batch)
            stats.tokens_scored += scored
            if bar is not None:
                bar.update(scored)
            for q in sel:
                taken[q] = 1
    finally:
        if bar is not None:
            bar.close()
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]
