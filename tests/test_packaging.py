"""What a new user meets first: a light ``import surprisal``, a fast ``surprisal --help``, no
deprecation warnings from transformers on the KV-cache paths, a warning when PyPI's unrelated
``surprisal`` package shadows ours, and an sdist that can run its own tests."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

import surprisal
from surprisal import _compat, grammar
from surprisal.testing import tiny_lm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(surprisal.__file__).resolve().parents[1])  # the surprisal these tests import
HEAVY = ("torch", "transformers", "pandas", "numpy")


def _python(code: str, *, path: str = SRC) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports surprisal from ``path``."""
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def _loaded_after(code: str) -> dict[str, bool]:
    report = f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    probe = f"import json, sys\n{code}\n{report}"
    run = _python(probe)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- fast import, fast errors


def test_import_surprisal_imports_no_heavy_module():
    assert _loaded_after("import surprisal") == dict.fromkeys(HEAVY, False)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["score", "--help"], ["--version"], ["score"], ["delta", "--model"]],
    ids=["help", "score-help", "version", "missing-model", "missing-value"],
)
def test_cli_help_and_argument_errors_import_no_heavy_module(argv):
    code = (
        "from surprisal.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code in (0, 2), e.code"
    )
    assert _loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_public_names_and_submodules_resolve_lazily():
    loaded = _python(
        "import surprisal\n"
        "names = [n for n in surprisal.__all__ if getattr(surprisal, n, None) is None]\n"
        "assert not names, names\n"
        "assert surprisal.testing.tiny_lm and surprisal.grammar.cfg and surprisal.viz\n"
        "assert set(surprisal.__all__) <= set(dir(surprisal))"
    )
    assert loaded.returncode == 0, loaded.stderr
    assert surprisal.score is surprisal.api.score  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        surprisal.nope  # type: ignore[attr-defined]  # noqa: B018


def test_no_function_shadows_a_module():
    """Every module of the package is importable as a module, and the public function
    names are not also module names (``surprisal.delta`` lives in ``surprisal.deltas``)."""
    run = _python(
        "import importlib, pkgutil, types, surprisal\n"
        "import surprisal.deltas as m\n"
        "assert m.Delta is surprisal.Delta and isinstance(surprisal.delta, types.FunctionType)\n"
        "for info in pkgutil.walk_packages(surprisal.__path__, 'surprisal.'):\n"
        "    if info.name.endswith('__main__'):\n"
        "        continue\n"
        "    mod = importlib.import_module(info.name)\n"
        "    parent, _, leaf = info.name.rpartition('.')\n"
        "    attr = getattr(importlib.import_module(parent), leaf)\n"
        "    assert isinstance(attr, types.ModuleType), (info.name, attr)\n"
    )
    assert run.returncode == 0, run.stderr


# ---------------------------------------------------------------- transformers, no warnings


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_cache_paths_raise_no_deprecation_warning(arch):
    # Context scoring, deltas and generation all reuse a prefix's KV cache: the paths that
    # passed `past_key_values=` (a FutureWarning on every call under transformers 5.24).
    lm = tiny_lm(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        s = surprisal.score(["ab ab", "abba"], context="a rule: ab", model=lm, progress=False)
        d = surprisal.delta(["ab ab"], explanation="a rule: ab", model=lm, progress=False)
        g = grammar.generation(grammar.zoo["dyck1"], model=lm, explanation="x", n=3, max_len=4)
    assert len(s) == 2 and d.reduction.shape == (1,) and g is not None


def test_cache_kwarg_follows_the_forward_signature():
    class Old:
        def forward(self, input_ids=None, past_key_values=None, **kwargs): ...

    class New:
        def forward(self, input_ids=None, cache=None, **kwargs): ...

    assert _compat.cache_kwarg(Old()) == "past_key_values"
    assert _compat.cache_kwarg(New()) == "cache"
    lm = tiny_lm("gpt2")
    assert _compat.cache_kwarg(lm.model) in inspect.signature(lm.model.forward).parameters


def test_output_cache_reads_the_declared_field():
    @dataclass
    class OldOut:
        past_key_values: object = "old"

    @dataclass
    class NewOut:
        cache: object = "new"

    assert _compat.output_cache(OldOut()) == "old"
    assert _compat.output_cache(NewOut()) == "new"


# ---------------------------------------------------------------- the PyPI name clash


def test_import_warns_when_pypi_surprisal_is_installed_in_the_same_place(tmp_path):
    # Both distributions install a top-level `surprisal/`: lay ours out as pip would, then
    # add the other's metadata beside it.
    shutil.copytree(
        Path(surprisal.__file__).parent,
        tmp_path / "surprisal",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = "import warnings\nwarnings.simplefilter('error')\nimport surprisal"
    alone = _python(code, path=str(tmp_path))
    assert alone.returncode == 0, alone.stderr  # no warning without the other package
    (tmp_path / "surprisal-0.1.7.dist-info").mkdir()
    (tmp_path / "surprisal-0.1.7.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: surprisal\nVersion: 0.1.7\n"
    )
    run = _python(code, path=str(tmp_path))
    assert run.returncode != 0
    assert "unrelated PyPI package 'surprisal' (surprisal-0.1.7.dist-info)" in run.stderr
    assert "pip uninstall -y surprisal" in run.stderr


# ---------------------------------------------------------------- packaging


def test_sdist_carries_license_docs_and_everything_its_tests_read(tmp_path):
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not a source tree")
    pytest.importorskip("setuptools", minversion="77")
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT,
        tree,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "*.egg-info", "__pycache__", "*_cache", "site", "dist", "build"
        ),
    )
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(tmp_path),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    name = build.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
        info = tar.extractfile(f"{name.removesuffix('.tar.gz')}/PKG-INFO")
        assert info is not None
        pkg_info = info.read().decode()
    for path in ("LICENSE", "README.md", "CHANGELOG.md", "src/surprisal/demo_model/config.json"):
        assert path in members, path
    for folder in ("docs", "examples", "tests", "scripts", "benchmarks"):
        tracked = {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file()}
        tracked = {p for p in tracked if "__pycache__" not in p and not p.endswith(".html")}
        assert tracked and tracked <= members, sorted(tracked - members)
    assert "License-Expression: MIT" in pkg_info
    assert "Requires-Dist: pandas" in pkg_info  # a core dependency: the demo's tables need it
