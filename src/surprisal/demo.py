"""A guided tour of surprisal on a tiny language model that ships with the package.

The demo model (``surprisal/demo_model``, ~1M parameters, GPT-2 architecture) was trained
from scratch by ``scripts/train_demo_model.py`` on strings of the grammar zoo
(:mod:`surprisal.grammar.zoo`), half of the time preceded by the grammar's explanation, on
the zoo's control texts and on a few English sentences (its ``TRAINING.json`` records the
recipe). It is far too small to know English, but it knows the zoo: it tells members of a
grammar from non-members, and an explanation tells it *which* grammar comes next. That
makes every analysis of the library show a real, non-trivial effect offline and in seconds.

:func:`run_demo` runs three analyses and reports them as plain text and as one
self-contained HTML page:

1. :func:`surprisal.score`: per-token surprisal of grammar members, non-members and an
   English sentence, with each text's most surprising tokens (bits);
2. :func:`surprisal.delta`: how much a grammar's explanation reduces the surprisal of its
   strings, against no prefix and against an unrelated control text of similar length
   (bits), the explanation's own cost and the two-part-code gain;
3. :func:`surprisal.grammar.membership`: ROC-AUC and minimal-pair accuracy of members vs
   non-members without a prefix, after the explanation and after the control, each beside
   its chance level (the same metric under random-weight twins of the model), the lifts
   with bootstrap CIs and the differential reduction (members - non-members).

The demo model saw the explanation texts verbatim in training, so their surprisal S(e) is
tiny and the two-part-code gain is inflated: the report says so.

Everything is local: no network access is needed or attempted.

>>> from surprisal.demo import load_demo
>>> load_demo().bos_policy
'bos'
"""

from __future__ import annotations

import html as _html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._demo_files import DEMO_NAME, demo_path
from .formatting import ci
from .lm import LM, load

# (a) score: members and non-members of dyck2, and a sentence of the training English
_SCORE_TEXTS: tuple[tuple[str, str], ...] = (
    ("([])[]", "dyck2 member"),
    ("([)][]", "dyck2 non-member"),
    ("[]()", "dyck2 member"),
    ("[](", "dyck2 non-member"),
    ("The cat sat on the mat.", "English"),
)
# (b) delta and (c) membership: the zoo grammars shown
_GRAMMARS = ("dyck2", "english", "even_parity")


def load_demo(device: str | None = None) -> LM:
    """Load the demo model from the package data, offline, as a :class:`surprisal.LM`.

    Args:
        device: ``"cpu"``, ``"cuda"``, ...; default: CUDA when available, else CPU.

    Returns:
        The LM (float32, ``bos_policy == "bos"``: ``<|endoftext|>`` starts every text).
    """
    lm = load(demo_path(), device=device)
    lm.name = DEMO_NAME
    return lm


@dataclass
class DemoReport:
    """What :func:`run_demo` found.

    Attributes:
        text: the plain-text report (what ``surprisal demo`` prints).
        html: the HTML report (one self-contained page, no scripts), or None when it was
            not asked for.
        numbers: every figure of the report, for tests and docs: ``numbers["score"]`` (per
            text: total surprisal in bits, top tokens with bits), ``numbers["delta"]`` (per
            grammar: ``DeltaSummary.to_dict()`` in nats and in bits),
            ``numbers["membership"]`` (per grammar: AUC, pair accuracy and lifts with CIs,
            unitless; their chance levels and ``above_chance`` per condition; the
            differential reduction, nats) and ``numbers["seconds"]`` (wall time).
    """

    text: str
    html: str | None
    numbers: dict[str, Any] = field(default_factory=dict)


def _top_tokens(ts: Any, k: int = 3) -> list[tuple[str, float]]:
    """The k most surprising tokens of a TextScore, as (piece, bits), most surprising first."""
    s = ts.surprisal("bits")
    order = sorted((i for i in range(len(s)) if not math.isnan(s[i])), key=lambda i: (-s[i], i))[:k]
    return [(ts.pieces[i], float(s[i])) for i in order]


def _page(title: str, text: str, sections: list[tuple[str, str]]) -> str:
    """One :func:`surprisal.viz.page`: the text report, then every analysis's sections; all
    values in bits (AUCs and accuracies are unitless)."""
    from .report.page import page

    return page(
        title,
        [("Text report", f'<pre class="text">{_html.escape(text)}</pre>'), *sections],
        "bits",
        subtitle=DEMO_NAME,
    )


def _ci(mean: float, lo: float, hi: float, digits: int = 2) -> str:
    return f"{mean:+.{digits}f} {ci(lo, hi, spec=f'+.{digits}f')}"


def _fmt_ci(s: Any) -> str:
    return _ci(s.mean, s.ci_low, s.ci_high)


def run_demo(
    *,
    html_path: str | Path | None = "surprisal-demo.html",
    quick: bool = False,
    seed: int = 0,
    progress: bool | None = False,
    started: float | None = None,
) -> DemoReport:
    """Run the three analyses on the demo model and report them.

    Args:
        html_path: where to write the HTML report (one self-contained page: inline CSS, no
            scripts, no external links); None to skip it (``report.html`` is then None).
        quick: fewer strings: 10 delta targets instead of 40, 20 membership strings per
            grammar instead of 100, 1,000 bootstrap resamples instead of 5,000.
        seed: seeds the string sampling, the train/test split and the bootstraps.
        progress: progress bars on stderr, one per analysis call: True shows them, None
            only when stderr is a terminal (what ``surprisal demo`` passes).
        started: the wall-clock time (``time.time()``) that "Done in" counts from; default:
            when ``run_demo`` is called. ``surprisal demo`` passes the time its process
            started, so the figure it prints includes Python's start-up and the imports.

    Returns:
        A :class:`DemoReport`. The text report, like the HTML page, gives every surprisal
        figure in bits (``-log2 p``); ``numbers`` keeps the units its keys say (the delta
        summaries in nats and in bits, the differential reduction in nats); AUCs and
        accuracies are unitless fractions.

    The model is tiny, so torch runs it on one thread while the demo runs (more threads
    only add synchronisation); the caller's thread count is restored afterwards.
    """
    t0 = time.time() if started is None else float(started)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_demo(
            t0,
            html_path=html_path,
            quick=quick,
            seed=seed,
            progress=progress,
            from_process=started is not None,
        )
    finally:
        torch.set_num_threads(threads)


@dataclass
class _Section:
    """What one part of the demo adds: report lines, numbers, HTML sections."""

    lines: list[str]
    numbers: dict[str, Any]
    docs: list[tuple[str, str]]


def _run_demo(
    t0: float,
    *,
    html_path: str | Path | None,
    quick: bool,
    seed: int,
    progress: bool | None,
    from_process: bool,
) -> DemoReport:
    lm = load_demo()
    n_boot = 1000 if quick else 5000
    parts = {
        "score": _score_part(lm, progress),
        "delta": _delta_part(lm, 10 if quick else 40, n_boot, seed, progress),
        "membership": _membership_part(lm, 20 if quick else 100, n_boot, seed, progress),
    }
    out: list[str] = [
        f"surprisal demo: {DEMO_NAME}",
        "Units: bits throughout, like the HTML page. Surprisal = -log2 p of a token or text",
        "(1 bit = ln 2 = 0.693 nats); lower = more expected. AUCs and accuracies are unitless.",
    ]
    numbers: dict[str, Any] = {}
    docs: list[tuple[str, str]] = []  # the HTML page's (heading, body) sections
    for name, part in parts.items():
        out += ["", *part.lines]
        numbers[name] = part.numbers
        docs += part.docs
    secs = time.time() - t0
    numbers["seconds"] = secs
    since = " since the process started" if from_process else ""
    out += ["", f"Done in {secs:.1f} s{since}."]
    if html_path is not None:
        out.append(f"HTML report: {html_path}")
    text = "\n".join(out)
    page = None
    if html_path is not None:
        from .report.page import write_html

        page = _page("surprisal demo", text, docs)
        write_html(page, html_path)
    return DemoReport(text=text, html=page, numbers=numbers)


def _score_part(lm: LM, progress: bool | None) -> _Section:
    """1. per-token surprisal of a few lines, and their most surprising tokens."""
    from .api import score
    from .report.page import heatmap

    out = ["1. score: surprisal of each line (text + newline) and its 3 most surprising tokens"]
    numbers: dict[str, Any] = {}
    texts = [t + "\n" for t, _ in _SCORE_TEXTS]
    sc = score(texts, model=lm, progress=progress)
    width = max(len(t) for t, _ in _SCORE_TEXTS) + 2
    rows = []
    for (t, what), ts in zip(_SCORE_TEXTS, sc, strict=True):
        total = ts.total("bits")
        top = _top_tokens(ts)
        numbers[t] = {"kind": what, "total_bits": total, "top_bits": top}
        tops = ", ".join(f"{p!r} {b:.1f}" for p, b in top)
        out.append(f"  {what:<17} {t:<{width}} {total:5.1f} bits   top: {tops}")
        rows.append(
            {
                "label": f"{what}: {t}",
                "pieces": ts.pieces,
                "values": ts.surprisal("bits").tolist(),
                "extra": {"total": f"{total:.2f} bits"},
            }
        )
    heat = heatmap(rows, value_label="surprisal", unit="bits")
    docs = [("1. score: dyck2 members and non-members, and English", heat)]

    return _Section(out, numbers, docs)


def _delta_part(lm: LM, n_delta: int, n_boot: int, seed: int, progress: bool | None) -> _Section:
    """2. how much each grammar's explanation (and a control) reduces its strings' surprisal."""
    from .deltas import delta
    from .grammar import zoo
    from .report.delta import delta_sections

    numbers: dict[str, Any] = {}
    docs: list[tuple[str, str]] = []
    out = [
        "2. delta: mean reduction S(string) - S(string | prefix) per string, bits [95% CI];",
        "   > 0: the prefix made the strings less surprising. cost = S(explanation), bits; gain =",
        "   two-part-code gain = sum of reductions - cost, bits (> 0: a shorter code with it).",
        "   NOTE: this model was trained on the explanation texts verbatim, so their cost S(e) is",
        "   tiny and the gain is inflated: neither is meaningful here (they are on real models).",
    ]
    for name in _GRAMMARS:
        g = zoo[name]
        avail = sum(g.count(L) for L in range(1, 13))
        strings = g.sample(min(n_delta, avail), 1, 12, seed=seed)
        d = delta(
            strings, explanation=g.explanation, control=g.control, model=lm, progress=progress
        )
        sn = d.summary(unit="nats", n_boot=n_boot, seed=seed)
        sb = d.summary(unit="bits", n_boot=n_boot, seed=seed)
        numbers[name] = {"n": len(strings), "nats": sn.to_dict(), "bits": sb.to_dict()}
        assert sb.control is not None and sb.vs_control is not None  # a control was given
        out.append(
            f"  {name + f' ({len(strings)})':<21} explanation {_fmt_ci(sb.reduction)}   "
            f"control {_fmt_ci(sb.control)}"
        )
        out.append(
            f"     explanation vs control {_fmt_ci(sb.vs_control)}   "
            f"cost {sb.explanation_cost:.1f}   gain {sb.two_part_gain_total:+.1f}"
        )
        docs += [
            (f"2. delta, {name} \u2014 {h}", b)
            for h, b in delta_sections(d, "bits", None, n_boot=n_boot, seed=seed)
        ]

    return _Section(out, numbers, docs)


def _membership_part(
    lm: LM, n_member: int, n_boot: int, seed: int, progress: bool | None
) -> _Section:
    """3. does the model tell members from non-members, beside its measured chance level."""
    from .grammar import membership, zoo
    from .report.grammar import membership_sections

    numbers: dict[str, Any] = {}
    docs: list[tuple[str, str]] = []
    out = [
        "3. membership: ROC-AUC of log p(string + newline), members vs non-members (one edit away",
        "   or random, token-count matched); pairs: share of one-edit pairs the member wins",
        "   (none / explanation / control); (c): chance = the same metric under random-weight",
        "   twins of the model; lift: AUC change made by the explanation [95% CI]; diff: the",
        "   explanation's reduction on members - on non-members, bits (knowledge vs priming)",
    ]
    for name in _GRAMMARS:
        g = zoo[name]
        m = membership(
            g,
            model=lm,
            explanation=g.explanation,
            control=g.control,
            n=n_member,
            max_len=12,
            seed=seed,
            n_boot=n_boot // 5,
            null_draws=4,  # the tour's chance levels: 4 twins keep it short (the default is 16)
            progress=progress,
        )
        auc, pa, lift = m.auc, m.pair_accuracy, m.lift
        chance = m.chance
        above = {c: m.above_chance_in(c) for c in m.conditions}
        diff = m.differential["explanation"]
        n_pos = int(m.labels.sum())
        numbers[name] = {
            "n_members": n_pos,
            "n_nonmembers": len(m.labels) - n_pos,
            "auc": auc,
            "pair_accuracy": pa,
            "lift": lift,
            "chance": chance,
            "above_chance": above,
            "differential": diff.to_dict(),
        }
        ca, cp = chance["auc"], chance["pair_accuracy"]
        ln, lc = lift["explanation-none"], lift["explanation-control"]
        out.append(
            f"  {name + f' ({n_pos}+{len(m.labels) - n_pos})':<21} AUC "
            + "  ".join(f"{auc[c]:.2f} (c {ca[c]:.2f})" for c in m.conditions)
            + "   pairs "
            + "/".join(f"{pa[c]:.2f}" for c in m.conditions)
        )
        ln2 = math.log(2.0)  # diff is in nats; the report is in bits
        dci = _ci(diff.estimate / ln2, diff.ci_low / ln2, diff.ci_high / ln2)
        out.append(
            f"     pairs chance {'/'.join(f'{cp[c]:.2f}' for c in m.conditions)};"
            f" length-only AUC {m.length_only_auc:.2f}; diff {dci}"
        )
        out.append(
            f"     AUC lift {_ci(ln['auc'], ln['auc_ci_low'], ln['auc_ci_high'], 3)} vs none, "
            f"{_ci(lc['auc'], lc['auc_ci_low'], lc['auc_ci_high'], 3)} vs control"
        )
        if all(a["auc"][1] <= 0 for a in above.values() if "auc" in a):
            out.append(
                "     ~ chance (every AUC's CI above chance reaches 0): the model never learned "
                "this language"
            )
        docs += [
            (f"3. membership, {name} \u2014 {h}", b) for h, b in membership_sections(m, unit="bits")
        ]

    return _Section(out, numbers, docs)
