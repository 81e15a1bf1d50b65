"""The command line (python -m fastrnn) and the examples, on tiny settings; no timing assertions."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import __main__ as cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--steps", "40", "--hidden", "24", "--embed", "8", "--batch", "8", "--seq-len", "16",
        "--sample-length", "40", "--lr", "0.02"]


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "fastrnn", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("demo", "sample", "info"):
        assert command in out.stdout


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_demo_trains_reports_and_samples(capsys):
    assert cli.main(["demo", *TINY, "--no-progress"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"nats\): ([\d.]+) at step 1 -> ([\d.]+)", out)
    assert m, out
    first, last = float(m.group(1)), float(m.group(2))
    assert last < first - 0.3
    assert re.search(r"time per step: [\d.]+ ms", out)
    sample = out.split("-" * 60)[1].strip()
    assert sample.startswith("The keeper") and len(sample) >= 40


def test_demo_falls_back_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert isinstance(cli._progress(10, True, "x"), cli._PlainProgress)
    assert cli.main(["demo", "--steps", "10", *TINY[2:]]) == 0
    out = capsys.readouterr().out
    assert "install tqdm" in out and "training: 10/10" in out


def test_demo_progress_bar_uses_tqdm():
    pytest.importorskip("tqdm")
    bar = cli._progress(5, True, "x")
    try:
        assert type(bar).__module__.startswith("tqdm")
    finally:
        bar.close()


def test_demo_save_then_sample(tmp_path, capsys):
    path = tmp_path / "char.npz"
    assert cli.main(["demo", *TINY, "--quiet", "--save", str(path), "--cell", "gru"]) == 0
    assert capsys.readouterr().out == ""
    header = fastrnn.io.read_header(path)
    assert header["meta"]["cell"] == "gru" and len(header["meta"]["vocab"]) > 20
    assert cli.main(["sample", str(path), "--prompt", "The ", "--length", "25",
                     "--seed", "1"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("The ") and len(text) == 29


def test_demo_on_a_user_corpus_and_max_time(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd " * 80)
    assert cli.main(["demo", *TINY, "--no-progress", "--corpus", str(corpus), "--max-time",
                     "0.001", "--prompt", "ab"]) == 0
    out = capsys.readouterr().out
    assert "vocabulary 5" in out and "stopped after" in out


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert fastrnn.__version__ in out and "backend" in out


def _one_line_error(argv, capsys):
    """Run the CLI; assert status 2 and a single stderr line ``fastrnn: error: ...``; return it."""
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastrnn: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize("argv", [["demo", "--steps", "0"], ["demo", "--lr", "-1"],
                                  ["demo", "--cell", "rnn"], ["bogus"], ["sample"],
                                  ["demo", "--steps", "ten"], ["lag", "--lags", "x"]])
def test_bad_arguments_exit_with_a_one_line_error(argv, capsys):
    _one_line_error(argv, capsys)


def test_file_errors_are_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    assert "no such file" in _one_line_error(["sample", str(missing)], capsys)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint")
    assert "not a fastrnn checkpoint" in _one_line_error(["sample", str(junk)], capsys)
    fastrnn.save(fastrnn.Linear(2, 2, seed=0), tmp_path / "lin.npz")
    assert "no vocabulary" in _one_line_error(["sample", str(tmp_path / "lin.npz")], capsys)
    fastrnn.save(fastrnn.Linear(2, 2, seed=0), tmp_path / "lin2.npz", meta={"vocab": "ab"})
    assert "character model" in _one_line_error(["sample", str(tmp_path / "lin2.npz")], capsys)
    line = _one_line_error(["demo", "--corpus", str(tmp_path / "none.txt")], capsys)
    assert "none.txt" in line
    out = tmp_path / "nowhere" / "m.npz"
    line = _one_line_error(["demo", *TINY, "--quiet", "--save", str(out)], capsys)
    assert "no such directory" in line


def test_tqdm_is_a_runtime_dependency():
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"tqdm\b", d) for d in deps)


def test_corpus_is_shipped():
    text = fastrnn.data.corpus()
    assert len(text) > 3000 and "lamp" in text
    with pytest.raises(ValueError, match="lighthouse"):
        fastrnn.data.corpus("moby")


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,argv", [
    ("min_char_rnn", ["--steps", "300"]),
    ("sequence_classifier", ["--steps", "5", "--batch", "16"]),
    ("seq2seq_reverse", ["--steps", "3", "--batch", "8", "--hidden", "16"]),
])
def test_examples_run(name, argv, capsys):
    result = _example(name).main(argv)
    out = capsys.readouterr().out
    assert np.isfinite(result) and ("step " in out or "iter " in out)
    if name == "min_char_rnn":
        assert result < np.log(48)              # per-character loss below a uniform guess
