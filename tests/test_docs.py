"""The README and the docs run as written.

* Every ```python block of README.md and of every page under docs/ runs, in order, in one
  namespace per page (the pages use the offline tiny models or the shipped demo model, so
  nothing is downloaded).
* Every command of the ```bash blocks of docs/howto/cli.md runs and exits 0, with the
  shipped demo model standing in for the hub models the page names, on small input files
  written here (the page's own flags are kept, so a flag combination that fails, as an
  earlier ``--grammar anbn --shots 3`` did, fails here). ``torchrun`` lines are not run.
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    p
    for p in [ROOT / "README.md", *ROOT.joinpath("docs").rglob("*.md")]
    if "```python" in p.read_text(encoding="utf-8")
)


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def _page_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=[_page_id(p) for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch, capsys):
    text = page.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # anything a page writes lands here
    ns: dict = {"__name__": f"docs_{page.stem}"}
    for k, block in enumerate(_blocks(text, "python")):
        try:
            exec(compile(block, f"{page.name}[block {k + 1}]", "exec"), ns)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name}, python block {k + 1} fails: {exc!r}") from exc


def test_every_page_with_code_is_collected():
    assert ROOT / "README.md" in PAGES
    assert {p.name for p in PAGES} >= {"index.md", "concepts.md", "migrating.md", "scoring.md"}


# ---------------------------------------------------------------- the CLI page's commands

CLI_PAGE = ROOT / "docs" / "howto" / "cli.md"
MODELS = {"gpt2", "PATH_OR_ID", "PATH"}  # hub ids and placeholders -> the demo model
INPUTS = {
    "texts.txt": "The cat sat on the mat.\n([])[]\n([)][]\n",
    "corpus.jsonl": '{"id": "a", "text": "The cat sat."}\n{"id": "b", "text": "(())"}\n',
    "targets.txt": "([])[]\n(()[])\n",
    "explanation.txt": "Brackets come in pairs and close in the reverse order.\n",
    "control.txt": "The weather was mild all week and the shops were open.\n",
    "my_grammar.cfg": 'S -> "(" S ")" S | \n',
    "my_explanation.txt": "Every opening bracket is closed later.\n",
}


def _cli_commands() -> list[str]:
    out = []
    for block in _blocks(CLI_PAGE.read_text(encoding="utf-8"), "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and "surprisal" in line:
                out.append(line)
    return out


CLI_COMMANDS = _cli_commands()


@pytest.mark.slow
@pytest.mark.parametrize("line", CLI_COMMANDS, ids=[c[:60] for c in CLI_COMMANDS])
def test_cli_page_command_runs(line, tmp_path, monkeypatch, capsys):
    from surprisal.cli import main

    if line.startswith("torchrun"):
        pytest.skip("needs torchrun and several processes (tests/test_cli.py runs two ranks)")
    monkeypatch.chdir(tmp_path)
    for name, content in INPUTS.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    stdin = None
    if "|" in line:  # `cat FILE | surprisal ...`
        feed, line = (part.strip() for part in line.split("|", 1))
        assert feed.startswith("cat "), feed
        stdin = (tmp_path / feed.split()[1]).read_text(encoding="utf-8")
    argv = shlex.split(line)
    assert argv[0] == "surprisal", line
    argv = argv[1:]
    argv = [
        "demo" if i > 0 and a in MODELS and argv[i - 1] == "--model" else a
        for i, a in enumerate(argv)
    ]
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 0, f"`{line}` exited {status}: {err[-2000:]}"
