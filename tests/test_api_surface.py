"""The public surface: one way to pass model=, every run option wherever scoring happens,
the CLI's run flags from the one declaration, versions on every result, and a layout with
no import circle and no private name used across modules."""

from __future__ import annotations

import ast
import inspect
import warnings
from pathlib import Path

import pytest

import surprisal
from surprisal import grammar
from surprisal.flags import RUN_FLAGS
from surprisal.options import RunOptions

SRC = Path(surprisal.__file__).parent
G = grammar.zoo["dyck1"]


def test_grammar_verbs_take_model_as_a_keyword(gpt2_lm):
    m = grammar.membership(G, model=gpt2_lm, n=4, max_len=4, baseline=None)
    by_name = grammar.membership("dyck1", model=gpt2_lm, n=4, max_len=4, baseline=None)
    assert m.auc == by_name.auc
    gen = grammar.generation("dyck1", model=gpt2_lm, n=2, max_new_tokens=3)
    assert len(gen.samples["none"]) == 2


def test_the_old_positional_form_warns_and_gives_the_same_numbers(gpt2_lm):
    new = grammar.membership(G, model=gpt2_lm, n=4, max_len=4, baseline=None)
    with pytest.warns(
        FutureWarning, match=r"removed in surprisal 0\.3\.0; use membership\(grammar, model=model\)"
    ):
        old = grammar.membership(gpt2_lm, G, n=4, max_len=4, baseline=None)
    assert old.auc == new.auc
    with pytest.warns(FutureWarning, match="generation"):
        grammar.generation(gpt2_lm, G, n=2, max_new_tokens=3)
    with pytest.warns(FutureWarning, match="sampling_temperature"):
        grammar.generation(G, model=gpt2_lm, n=2, max_new_tokens=3, temperature=0.5)


def test_grammar_verbs_name_what_is_wrong(gpt2_lm):
    with pytest.raises(surprisal.SurprisalError, match="needs model="):
        grammar.membership(G, n=4)
    with pytest.raises(surprisal.SurprisalError, match=r"no zoo grammar named 'dyck9'.*dyck1"):
        grammar.membership("dyck9", model=gpt2_lm)
    with pytest.raises(TypeError, match=r"grammar must be a Grammar .* got int"):
        grammar.membership(3, model=gpt2_lm)
    with (
        pytest.raises(TypeError, match="both positionally and as model="),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", FutureWarning)
        grammar.membership(gpt2_lm, G, model=gpt2_lm)


def _keywords(f) -> set[str]:
    return {n for n, p in inspect.signature(f).parameters.items() if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("verb", ["score_to_file", "score_iter"])
def test_file_and_stream_verbs_take_every_run_option_of_score(verb):
    from surprisal import corpus

    theirs = _keywords(getattr(surprisal, verb))
    inputs = {"distributed", "token_ids"}  # how texts arrive, not how they are run
    missing = _keywords(surprisal.score) - theirs - inputs
    assert not missing, f"{verb} lacks {sorted(missing)}"
    assert _keywords(corpus.score_to_stream) >= _keywords(surprisal.score) - inputs - {"progress"}


def test_each_flag_declares_the_run_options_default():
    assert {f.name: f.default for f in RUN_FLAGS} == {
        f.name: getattr(RunOptions(), f.name) for f in RUN_FLAGS
    }


def test_run_options_make_takes_each_field_by_name():
    params = set(inspect.signature(RunOptions.make).parameters)
    fields = {f for f in RunOptions.__dataclass_fields__} - {"extras"}
    assert params == fields | {"extras", "top_k"}


@pytest.mark.parametrize(
    "flag,text,want",
    [
        ("add_bos", ["--no-bos"], False),
        ("add_bos", ["--add-bos"], True),
        ("max_length", ["--max-length", "64"], 64),
        ("stride", ["--stride", "8"], 8),
        ("separator", ["--separator", "\\t"], "\t"),
        ("truncate_context", ["--truncate-context", "left"], "left"),
        ("padding_side", ["--padding-side", "left"], "left"),
        ("pack", ["--no-pack"], False),
        ("head", ["--head", "plain"], "plain"),
        ("temperature", ["--temperature", "1.5"], 1.5),
        ("batch_tokens", ["--batch-tokens", "256"], 256),
    ],
)
def test_each_cli_run_flag_reaches_run_options(flag, text, want):
    from surprisal.cli import _run_kwargs, build_parser

    assert flag in {f.name for f in RUN_FLAGS}
    args = build_parser().parse_args(["score", "--model", "m", *text])
    opts = RunOptions.make(**_run_kwargs(args))
    assert getattr(opts, flag) == want
    defaults = RunOptions.make(**_run_kwargs(build_parser().parse_args(["score", "--model", "m"])))
    assert defaults == RunOptions(), "a flag left out must mean the Python default"


def test_every_result_records_the_versions(gpt2_lm):
    import torch
    import transformers

    s = surprisal.score(["a b"], model=gpt2_lm)
    want = {
        "surprisal": surprisal.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    assert s.versions == want and s.to_dict()["versions"] == want
    d = surprisal.delta(["a b"], explanation="c d", model=gpt2_lm)
    assert d.versions == want and d.to_dict()["versions"] == want
    m = grammar.membership(G, model=gpt2_lm, n=4, max_len=4, baseline=None)
    assert m.to_dict()["versions"] == want


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names, top_level) for every relative import of a source file."""
    pkg = path.relative_to(SRC.parent).with_suffix("").parts[:-1]  # the containing package
    out = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(pkg[: len(pkg) - node.level + 1])
            mod = ".".join(base + ([node.module] if node.module else []))
            out.append((mod, [a.name for a in node.names], id(node) in top))
    return out


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_private_name_is_imported_across_modules():
    bad = []
    for path in SRC.rglob("*.py"):
        for mod, names, _ in _imports(path):
            bad += [
                f"{_module_name(path)}: {mod}.{n}"
                for n in names
                if n.startswith("_") and not n.startswith("__")
            ]
    assert not bad, bad


def test_no_import_circle():
    """Module-level imports (type-only ones too) form no cycle; the lazy imports left are
    the CLI's and the demo's, kept out of start-up time."""
    graph: dict[str, set[str]] = {}
    mods = {_module_name(p) for p in SRC.rglob("*.py")}
    for path in SRC.rglob("*.py"):
        me = _module_name(path)
        if me == "surprisal":  # the package's lazy attribute table
            continue
        for mod, names, top in _imports(path):
            if not top and me.split(".")[-1] in ("cli", "demo", "__init__"):
                continue
            targets = {f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods} or {mod}
            graph.setdefault(me, set()).update(t for t in targets if t in mods and t != me)
    for pkg in [m for m in mods if (SRC.parent / m.replace(".", "/") / "__init__.py").exists()]:
        for m in list(graph.get(pkg, ())):  # a package importing its own modules is no cycle
            if m.startswith(pkg + "."):
                graph[pkg].discard(m)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(n) :], n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_module_is_over_800_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800
    }
    assert not long, long


def _verbs_with_run_options():
    from surprisal import corpus, grammar

    cands = [getattr(surprisal, n) for n in surprisal.__all__] + [
        corpus.score_to_stream,
        grammar.membership,
        grammar.generation,
    ]
    make = inspect.signature(RunOptions.make).parameters
    return [
        f
        for f in cands
        if inspect.isfunction(f)
        and f.__name__ != "load"  # its add_bos is the LM's own setting, not a run option
        and set(_keywords_or_empty(f)) & set(make)
    ]


def _keywords_or_empty(f) -> set[str]:
    try:
        return _keywords(f)
    except (TypeError, ValueError):  # a class or builtin without a signature
        return set()


def test_every_verb_declares_each_run_option_as_run_options_make_does():
    """Verbs spell their run options out (for help(), completion and type checks); each
    one must keep RunOptions.make's default and type, so the lists cannot drift apart."""
    make = inspect.signature(RunOptions.make).parameters
    verbs = _verbs_with_run_options()
    assert {v.__name__ for v in verbs} >= {"score", "score_iter", "score_to_file", "delta"}
    bad = [
        (v.__name__, name, p.default, p.annotation)
        for v in verbs
        for name, p in inspect.signature(v).parameters.items()
        if name in make
        and name != "extras"  # record-level in the writers
        and (p.default, p.annotation) != (make[name].default, make[name].annotation)
    ]
    assert not bad, bad
