"""`foley-desktop bench` end to end: table on stdout, Markdown + JSON files, clean errors."""

from __future__ import annotations

import json

from foley_desktop.cli import main
from foley_desktop.engine import testpkg


def test_bench_cli_writes_markdown_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_CACHE", str(tmp_path / "cache"))
    pkg = testpkg.build(tmp_path / "pkg", steps=2)
    prefix = tmp_path / "out" / "b"
    prefix.parent.mkdir()
    assert main(["bench", "--package", str(pkg), "--threads", "1", "--rounds", "1", "--reps",
                 "1", "--text-only", "--prompt", "door slam", "--seconds", "0.5",
                 "--output", str(prefix)]) == 0
    out = capsys.readouterr().out
    assert "| version | peak RSS MB" in out and "| int8" in out
    doc = json.loads((tmp_path / "out" / "b.json").read_text())
    assert (tmp_path / "out" / "b.md").read_text().startswith("# Bench: test-analytic")
    assert doc["input"]["video"] is None and doc["input"]["end"] == 24000
    assert doc["by_threads"]["1"]["int8"]["steps"] == 2
    assert isinstance(doc["speedup_int8_vs_fp32"], float)
    assert (tmp_path / "cache" / "bench" / "test-analytic-0.0.1.json").is_file()


def test_bench_cli_errors_are_one_line(tmp_path, capsys):
    pkg = testpkg.build(tmp_path / "pkg", steps=2)
    assert main(["bench", "--package", str(pkg), "--video", str(tmp_path / "none.mp4"),
                 "--no-findings"]) == 2
    assert main(["bench", "--package", str(pkg), "--variant", "int4", "--text-only",
                 "--no-findings", "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "none.mp4" in err and "int4" in err and "Traceback" not in err
