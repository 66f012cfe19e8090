"""Quantize and bench run on a package the HunyuanVideo-Foley converter wrote (issue #5: "on any
package a user converts"): a tiny configuration of the real architecture with random weights,
converted, then `quantize --mode int8-static` calibrated on a real clip through the real
pipeline, then `bench --json` over all its variants."""

from __future__ import annotations

import json
import math
import shutil

import pytest

pytest.importorskip("torch")

from test_convert_hunyuan import tiny  # noqa: F401 - the converted package fixture

from foley_desktop.cli import main


def test_quantize_and_bench_a_converted_package(tiny, tmp_path, clip_hello, capsys,  # noqa: F811
                                                monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_CACHE", str(tmp_path / "cache"))
    pkg = tmp_path / "pkg"
    shutil.copytree(tiny["pkg"], pkg)
    # Random weights quantize worse than trained ones, and the app's 7-bit weights (see
    # quantize/dynamic.py) cost precision: this denoiser measured 0.16 relative error, over the
    # default gate of 0.1. The gate itself is tested elsewhere.
    assert main(["quantize", str(pkg), "--mode", "int8-static", "--calibration",
                 str(clip_hello), "--max-error", "0.25"]) == 0
    man = json.loads((pkg / "manifest.json").read_text())
    assert "int8-static" in man["graphs"]["denoiser"]["variants"]
    from foley_desktop.engine.package import load_package

    load_package(pkg).verify_all()  # the new files are in the manifest with their hashes

    prefix = tmp_path / "bench"
    assert main(["bench", "--package", str(pkg), "--threads", "1", "--rounds", "1", "--reps", "1",
                 "--seconds", "1", "--steps", "10", "--output", str(prefix)]) == 0
    doc = json.loads(prefix.with_suffix(".json").read_text())
    assert {"fp32", "fp16", "int8", "int8-static"} <= set(doc["variants"])
    for key in ("speedup_int8_vs_fp32", "size_ratio_int8_vs_fp32"):
        assert isinstance(doc[key], float) and doc[key] > 0
    row = doc["by_threads"]["1"]["int8-static"]
    assert row["size_ratio_vs_fp32"] < 1.0 and row["deterministic"]
    assert math.isfinite(row["quality"]["lsd_db"]) and row["quality"]["lsd_db"] > 0
    assert "| int8-static" in capsys.readouterr().out
