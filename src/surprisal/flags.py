"""The run options the command line exposes, declared once (no numpy or torch: ``surprisal
--help`` imports this and nothing heavy).

:data:`RUN_FLAGS` lists each :class:`surprisal.options.RunOptions` keyword the scoring
commands take, with its help and its default; the CLI builds its flags from it and passes
them back by the same names, so a keyword of ``score()`` and its flag cannot drift apart
(``tests/test_api_surface.py`` checks every flag reaches ``RunOptions`` and that the
defaults are ``RunOptions``' own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_SEPARATOR = "\n"  # a line break between context and text: natural for every tokenizer
HEADS = ("auto", "fused", "plain")


@dataclass(frozen=True)
class Flag:
    """One :class:`RunOptions` keyword as a command-line flag: ``--max-length`` for
    ``max_length``. ``kind`` says how the text is read; ``choices`` limits it."""

    name: str  # the RunOptions / score() keyword
    help: str
    kind: Literal["int", "float", "str", "choice", "bool"] = "str"
    choices: tuple[str, ...] = ()
    group: Literal["model", "scoring"] = "scoring"
    negative: str = ""  # a bool's off flag (default --no-NAME)
    default: object = None  # RunOptions' default (a test keeps the two equal)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The run options every scoring command (score, delta) exposes, in --help order. The CLI
# builds its flags from this list and passes them back by the same names, so a keyword of
# score() and its flag cannot drift apart (tests/test_cli.py checks each one reaches
# RunOptions). Defaults are RunOptions' own.
RUN_FLAGS: tuple[Flag, ...] = (
    Flag(
        "batch_tokens",
        "padded tokens per batch; results do not depend on it (default: by device)",
        "int",
        group="model",
    ),
    Flag(
        "add_bos",
        "prepend the boundary token (BOS, or EOS for tokenizers without one), so the first "
        "token is scored; --no-bos: none, the first token is NaN (default: the model's "
        "policy)",
        "bool",
        negative="--no-bos",
    ),
    Flag(
        "max_length",
        "window length in tokens for long texts (default: the model's context length)",
        "int",
    ),
    Flag(
        "stride",
        "window step; each token keeps at least max-length - stride tokens of context "
        "(default: max-length // 2)",
        "int",
    ),
    Flag(
        "separator",
        "between a context (or explanation) and the text; \\n and \\t are understood "
        "(default: \\n)",
        default=DEFAULT_SEPARATOR,
    ),
    Flag(
        "truncate_context",
        "a context longer than the model: error, or keep its last tokens (left)",
        "choice",
        ("error", "left"),
        default="error",
    ),
    Flag(
        "padding_side",
        "how batches are padded; results do not depend on it",
        "choice",
        ("right", "left"),
        default="right",
    ),
    Flag(
        "pack",
        "several texts per row, no padding fed; --no-pack pads (default: on where the "
        "model passed the packing probe)",
        "bool",
    ),
    Flag(
        "head",
        "auto, fused, or plain (the model's own logits; slower, for checks)",
        "choice",
        HEADS,
        default="auto",
    ),
    Flag(
        "temperature",
        "score under softmax(logits / T) (default: the model as trained)",
        "float",
    ),
)
