"""The surprisal command: formats, errors as one line, and kill-and-resume without loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import surprisal
from surprisal.cli import main

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, lms):
    d = tmp_path_factory.mktemp("gpt2")
    lms["gpt2"].model.save_pretrained(d)
    lms["gpt2"].tokenizer.save_pretrained(d)
    return str(d)


def _texts(n):
    return [f"text {i}: the cat sat on mat number {i % 7}." for i in range(n)]


def test_score_jsonl_matches_python_api(model_dir, tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text(
        "".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(_texts(5))),
        encoding="utf-8",
    )
    assert (
        main(
            [
                "score",
                "--model",
                model_dir,
                str(inp),
                "--words",
                "--extras",
                "entropy",
                "--unit",
                "bits",
                "--quiet",
            ]
        )
        == 0
    )
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in recs] == [f"t{i}" for i in range(5)]
    s = surprisal.score(_texts(5), model=surprisal.load(model_dir))
    for r, ts in zip(recs, s, strict=True):
        assert r["total"] == pytest.approx(ts.total("bits"), abs=1e-4)
        assert "".join(r["pieces"]) == ts.text
        assert len(r["entropy"]) == len(ts) and len(r["words"]) == len(r["word_surprisal"])


@pytest.mark.integration
def test_score_csv_and_stdin(model_dir):
    out = subprocess.run(
        [sys.executable, "-m", "surprisal", "score", "--model", model_dir, "--format", "tsv"],
        input="a b\nc d\n",
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    ).stdout.splitlines()
    assert out[0].split("\t")[:4] == ["id", "n_tokens", "token_index", "piece"]
    assert {line.split("\t")[0] for line in out[1:]} == {"1", "2"}


def test_user_errors_are_one_line(model_dir, tmp_path, capsys):
    cases = [
        ["score", "--model", str(tmp_path / "nope"), "--text", "x"],
        ["score", "--model", model_dir, str(tmp_path / "missing.txt")],
        ["delta", "--model", model_dir, "--explanation", str(tmp_path / "none.txt"), "x.txt"],
        ["grammar", "--model", model_dir, "--grammar", "dyck9"],
        ["score", "--model", model_dir, "--text", "x", "--extras", "nope"],
        ["score", "--model", model_dir, "--text", "x", "--extras", "topk", "--format", "csv"],
        ["score", "--model", model_dir, "--text", "x", "--words", "--format", "csv"],
        [
            "score",
            "--model",
            model_dir,
            "--text",
            "x",
            "--level",
            "word",
            "--extras",
            "rank",
            "--format",
            "tsv",
        ],
        ["score", "--model", "demo", "--text", "x", "--revision", "v1"],
        ["score", "--model", model_dir, "--text", "x", "--device", "cpu", "--device-map", "cpu"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("surprisal: error: "), err
    # and as a process: the module entry point, no traceback
    r = subprocess.run(
        [sys.executable, "-m", "surprisal", *cases[0]], capture_output=True, text=True, env=ENV
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("surprisal: error: ")


def test_existing_output_needs_resume(model_dir, tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "0"}\n')
    assert main(["score", "--model", model_dir, "--text", "a", "-o", str(out), "--quiet"]) == 2
    assert out.read_text() == '{"id": "0"}\n'  # untouched


@pytest.mark.integration
def test_kill_and_resume_loses_and_duplicates_nothing(model_dir, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(_texts(300)) + "\n", encoding="utf-8")
    full = tmp_path / "full.jsonl"
    args = ["score", "--model", model_dir, str(inp), "--chunk-size", "10", "--quiet"]
    assert main([*args, "-o", str(full)]) == 0
    part = tmp_path / "part.jsonl"
    kills = 0
    for wait_bytes in (1, 60000):  # SIGKILL at two points, resuming each time
        proc = subprocess.Popen(
            [sys.executable, "-m", "surprisal", *args, "-o", str(part), "--resume"],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if part.exists() and part.stat().st_size >= wait_bytes:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait()
    assert kills >= 1
    assert main([*args, "-o", str(part), "--resume"]) == 0
    assert part.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_resume_after_a_torn_write(model_dir, tmp_path, fmt):
    """An interruption can cut a record anywhere: resume keeps whole records only."""
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(_texts(30)) + "\n", encoding="utf-8")
    args = ["score", "--model", model_dir, str(inp), "--chunk-size", "4", "--quiet"]
    full = tmp_path / f"full.{fmt}"
    assert main([*args, "-o", str(full)]) == 0
    data = full.read_bytes()
    for cut in (7, len(data) // 2 + 13, len(data) - 2):
        part = tmp_path / f"part{cut}.{fmt}"
        part.write_bytes(data[:cut])
        for side in (".meta.json", ".texts.jsonl"):  # the sidecars are written before it
            if (tmp_path / f"full.{fmt}{side}").exists():
                (tmp_path / f"part{cut}.{fmt}{side}").write_bytes(
                    (tmp_path / f"full.{fmt}{side}").read_bytes()
                )
        assert main([*args, "-o", str(part), "--resume"]) == 0
        assert part.read_bytes() == data, cut


def test_resume_refuses_other_settings(model_dir, tmp_path, capsys, lms):
    out = tmp_path / "o.jsonl"
    assert main(["score", "--model", model_dir, "--text", "a", "-o", str(out), "--quiet"]) == 0
    rec = json.loads(out.read_text())
    meta = json.loads((tmp_path / "o.jsonl.meta.json").read_text())
    assert set(meta["fingerprint"]) >= {"weights_sha", "tokenizer_sha", "dtype", "revision"}
    assert len(rec["run"]) == 12
    # the same path, other weights: refused, nothing mixed
    from surprisal.testing import tiny_model

    other = tmp_path / "other"
    tiny_model("gpt2", len(lms["gpt2"].tokenizer), seed=5).save_pretrained(other)
    lms["gpt2"].tokenizer.save_pretrained(other)
    out2 = tmp_path / "o2.jsonl"
    assert main(["score", "--model", str(other), "--text", "a", "-o", str(out2), "--quiet"]) == 0
    (tmp_path / "o2.jsonl.meta.json").write_text(
        (tmp_path / "o2.jsonl.meta.json").read_text().replace(str(other), model_dir)
    )
    capsys.readouterr()
    rc = main(
        ["score", "--model", model_dir, "--text", "a", "-o", str(out2), "--resume", "--quiet"]
    )
    assert rc == 2 and "fingerprint" in capsys.readouterr().err
    rc = main(
        [
            "score",
            "--model",
            model_dir,
            "--text",
            "a",
            "-o",
            str(out),
            "--resume",
            "--unit",
            "bits",
            "--quiet",
        ]
    )
    assert rc == 2


@pytest.mark.slow
def test_delta_and_grammar_commands(model_dir, tmp_path, capsys):
    e = tmp_path / "e.txt"
    e.write_text("Brackets come in matching pairs.")
    t = tmp_path / "t.txt"
    t.write_text("(())\n()()\n")
    html = tmp_path / "d.html"
    assert (
        main(
            [
                "delta",
                "--model",
                model_dir,
                "--explanation",
                str(e),
                str(t),
                "--html",
                str(html),
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    recs = [json.loads(x) for x in out.out.splitlines()]
    assert len(recs) == 2 and "reduction" in recs[0]
    assert "reduction S(t) - S(t|e)" in out.err
    assert html.exists()
    assert (
        main(
            [
                "grammar",
                "--model",
                model_dir,
                "--grammar",
                "abn",
                "--n",
                "10",
                "--max-len",
                "6",
                "--no-explanation",
                "--generate",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "grammar abn" in out and "generation from grammar abn" in out


@pytest.mark.integration
def test_torchrun_two_ranks_write_one_complete_file(model_dir, tmp_path):
    """``torchrun --nproc-per-node 2 -m surprisal score``: shards scored on both ranks,
    gathered, written once by rank 0; the file equals a single-process run's."""
    import socket

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(_texts(37)) + "\n", encoding="utf-8")
    single = tmp_path / "single.jsonl"
    args = ["score", "--model", model_dir, str(inp), "--chunk-size", "8", "--quiet"]
    assert main([*args, "-o", str(single)]) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    multi = tmp_path / "multi.jsonl"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(port),
            "-m",
            "surprisal",
            *args,
            "-o",
            str(multi),
        ],
        env={**ENV, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = [json.loads(x) for x in multi.read_text(encoding="utf-8").splitlines()]
    want = [json.loads(x) for x in single.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == [w["id"] for w in want]  # all, once, in order
    for g, w in zip(got, want, strict=True):
        assert g["pieces"] == w["pieces"] and g["run"] == w["run"]
        # other batch company: equal within the invariance tolerance, not bit for bit
        np.testing.assert_allclose(g["surprisal"], w["surprisal"], atol=1e-5)


# ---------------------------------------------------------------- parity with the API


def _run_json(argv, capsys):
    assert main(argv) == 0, argv
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def _subparsers():
    from surprisal.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return parser, sub.choices


def test_every_option_has_help_a_default_and_every_command_an_example():
    _, subs = _subparsers()
    assert set(subs) == {"score", "delta", "grammar", "demo", "decoding"}
    for name, p in subs.items():
        assert p.description and len(p.description) > 40, name
        assert p.epilog.startswith("examples:") and f"surprisal {name} " in p.epilog, name
        fmt = p._get_formatter()
        for a in p._actions:
            if not a.option_strings or a.dest == "help":
                continue
            assert a.help, (name, a.option_strings)
            shown = fmt._get_help_string(a)
            assert "default" in shown or a.required, (name, a.option_strings, shown)
        text = p.format_help()
        assert "examples:" in text and "(default: None)" not in text


def test_loading_options_reach_load(model_dir, capsys, monkeypatch):
    seen = []
    real = surprisal.load

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(surprisal, "load", spy)
    argv = ["score", "--model", model_dir, "--text", "a b", "--quiet"]
    base = _run_json(argv, capsys)
    extra = [
        "--dtype",
        "auto",
        "--revision",
        "main",
        "--trust-remote-code",
        "--attn-implementation",
        "eager",
        "--device-map",
        "cpu",
    ]
    got = _run_json(argv + extra, capsys)
    assert seen[1] == {
        "device": None,
        "dtype": None,
        "revision": "main",
        "trust_remote_code": True,
        "attn_implementation": "eager",
        "device_map": "cpu",
        "torch_dtype": "auto",
    }
    assert seen[0]["dtype"] == "float32" and "revision" not in seen[0]
    assert got[0]["total"] == pytest.approx(base[0]["total"], abs=1e-5)


def test_run_options_match_the_api(model_dir, capsys, lms):
    lm = surprisal.load(model_dir)
    text = " ".join(f"w{i}" for i in range(30))
    argv = ["score", "--model", model_dir, "--text", text, "--quiet"]
    rec = _run_json([*argv, "--max-length", "12", "--stride", "5", "--no-bos"], capsys)[0]
    want = surprisal.score(text, model=lm, max_length=12, stride=5, add_bos=False)[0]
    assert rec["surprisal"][0] is None
    np.testing.assert_allclose(rec["surprisal"][1:], want.surprisal()[1:], atol=1e-5)
    rec = _run_json([*argv, "--add-bos"], capsys)[0]
    assert rec["surprisal"][0] is not None
    # inline context with a separator typed as a shell escape
    ctx = "A list of words:"
    rec = _run_json([*argv, "--context-text", ctx, "--separator", "\\t"], capsys)[0]
    want = surprisal.score(text, model=lm, context=ctx, separator="\t")[0]
    assert rec["total"] == pytest.approx(want.total(), abs=1e-4)
    other = surprisal.score(text, model=lm, context=ctx)[0]
    assert abs(other.total() - want.total()) > 1e-3  # the separator mattered


def test_context_file_and_inline_text_agree(model_dir, tmp_path, capsys):
    f = tmp_path / "c.txt"
    f.write_text("Some context.\n")
    argv = ["score", "--model", model_dir, "--text", "the cat", "--quiet"]
    a = _run_json([*argv, "--context", str(f)], capsys)
    b = _run_json([*argv, "--context-text", "Some context."], capsys)
    assert a == b
    with pytest.raises(SystemExit):  # argparse: not both
        main([*argv, "--context", str(f), "--context-text", "x"])
    capsys.readouterr()


def test_topk_bow_and_corrected_words_in_jsonl(model_dir, capsys):
    lm = surprisal.load(model_dir)
    texts = ["the cat sat", "on a mat"]
    argv = ["score", "--model", model_dir, "--text", texts[0], "--text", texts[1]]
    recs = _run_json(
        [
            *argv,
            "--extras",
            "topk,bow",
            "--top-k",
            "3",
            "--word-correction",
            "pimentel-meister",
            "--unit",
            "bits",
            "--quiet",
        ],
        capsys,
    )
    s = surprisal.score(texts, model=lm, extras=["topk", "bow"], top_k=3)
    for r, ts in zip(recs, s, strict=True):
        assert "run" not in r  # stdout: no settings file, no run id
        np.testing.assert_array_equal(r["topk_ids"], ts.topk_ids)
        np.testing.assert_allclose(
            r["topk_surprisal"], -ts.topk_logprobs / np.log(2), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(r["bow"], ts.bow / np.log(2), rtol=1e-5, atol=1e-5)
        w = ts.words("pimentel-meister")
        assert r["words"] == w.words and r["word_correction"] == "pimentel-meister"
        np.testing.assert_allclose(r["word_surprisal"], w.surprisal("bits"), atol=1e-4)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_word_level_table(model_dir, tmp_path, capsys, fmt):
    import csv

    lm = surprisal.load(model_dir)
    texts = ["the cat  sat", " on a mat."]
    out = tmp_path / f"w.{fmt}"
    argv = ["score", "--model", model_dir, "--text", texts[0], "--text", texts[1], "--quiet"]
    assert (
        main([*argv, "-o", str(out), "--level", "word", "--word-correction", "pimentel-meister"])
        == 0
    )
    rows = list(csv.reader(out.open(encoding="utf-8"), delimiter="," if fmt == "csv" else "\t"))
    assert rows[0] == ["id", "n_words", "word_index", "word", "start", "end", "surprisal"]
    s = surprisal.score(texts, model=lm, extras=["bow"])
    want = []
    for i, (t, ts) in enumerate(zip(texts, s, strict=True)):
        w = ts.words("pimentel-meister")
        for j, word in enumerate(w.words):
            a, b = w.spans[j]
            assert t[a:b] == word
            want.append([str(i + 1), str(len(w.words)), str(j), word, str(a), str(b)])
            assert float(rows[len(want)][6]) == pytest.approx(w.surprisal()[j], abs=1e-4)
    assert [r[:6] for r in rows[1:]] == want
    # uncorrected word rows add up to each text's total
    main([*argv, "--level", "word", "--format", fmt])
    lines = capsys.readouterr().out.splitlines()[1:]
    sums: dict[str, float] = {}
    for line in csv.reader(lines, delimiter="," if fmt == "csv" else "\t"):
        sums[line[0]] = sums.get(line[0], 0.0) + float(line[6])
    assert [sums["1"], sums["2"]] == pytest.approx(s.total().tolist(), abs=1e-4)


def test_file_records_have_run_stdout_records_do_not(model_dir, tmp_path, capsys):
    argv = ["score", "--model", model_dir, "--text", "a b", "--quiet"]
    assert "run" not in _run_json(argv, capsys)[0]
    out = tmp_path / "r.jsonl"
    assert main([*argv, "-o", str(out)]) == 0
    assert "run" in json.loads(out.read_text().splitlines()[0])


def test_delta_inline_texts_ids_and_report(model_dir, tmp_path, capsys):
    t = tmp_path / "t.jsonl"
    t.write_text(
        json.dumps({"id": "pair-a", "text": "(())"})
        + "\n"
        + json.dumps({"id": "pair-b", "text": "()()"})
        + "\n"
    )
    html = tmp_path / "d.html"
    expl, ctrl = "Brackets come in matching pairs.", "The weather is mild today."
    argv = ["delta", "--model", model_dir, str(t), "--explanation-text", expl]
    recs = _run_json(
        [*argv, "--control-text", ctrl, "--html", str(html), "--unit", "bits", "--quiet"], capsys
    )
    assert [r["id"] for r in recs] == ["pair-a", "pair-b"]
    d = surprisal.delta(["(())", "()()"], explanation=expl, control=ctrl, model=model_dir)
    np.testing.assert_allclose([r["reduction"] for r in recs], d.reduction / np.log(2), atol=1e-4)
    np.testing.assert_allclose(
        [r["surprisal_given_control"] for r in recs], d.controlled.total("bits"), atol=1e-4
    )
    doc = html.read_text(encoding="utf-8")
    assert "<b>pair-a</b>" in doc and expl in doc and ctrl in doc and "<svg" in doc
    assert "nats" not in doc
    with pytest.raises(SystemExit):  # argparse: an explanation (file or text) is required
        main(["delta", "--model", model_dir, str(t)])


@pytest.mark.slow
def test_null_draws_size_or_skip_the_chance_models(model_dir, capsys, monkeypatch):
    from surprisal import grammar

    seen = []
    real = grammar.membership

    def spy(*args, **kwargs):
        m = real(*args, **kwargs)
        seen.append((kwargs, m))
        return m

    monkeypatch.setattr(grammar, "membership", spy)
    argv = ["grammar", "--model", model_dir, "--grammar", "abn", "--n", "6", "--max-len", "4"]
    argv += ["--no-explanation", "--quiet"]
    for extra, baseline, twins in (
        ([], "random", 16),  # the default for a model this small
        (["--null-draws", "1"], "random", 1),
        (["--null-draws", "0"], None, 0),
        (["--no-baseline"], None, 0),
    ):
        assert main(argv + extra) == 0, extra
        kwargs, m = seen.pop()
        assert kwargs["baseline"] == baseline, extra
        assert len(m.null_logprob) == twins, extra  # what was run, not only what was asked
        out = capsys.readouterr().out
        assert ("no null model" in out) == (twins == 0), extra
    for bad in (
        ["--null-draws", "-1"],
        ["--null-draws", "two"],
        ["--null-draws", "1", "--no-baseline"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv + bad)
        assert exc.value.code == 2, bad
        err = capsys.readouterr().err
        assert "--null-draws" in err and (
            "0 or more" in err or "whole" in err or "not allowed" in err
        )
    assert seen == []  # a bad flag is refused before any scoring
