"""The bench on a real package: each variant measured in its own process on the same input,
the JSON's keys, and ratios that follow from the measured numbers (not from constants)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from foley_desktop.engine import bench as findings
from foley_desktop.engine.package import load_package
from foley_desktop.quantize import devpkg, report
from foley_desktop.quantize.bench import bench

SR = 48000


@pytest.fixture(scope="module")
def result(tmp_path_factory, clip_tank):
    import os

    cache = tmp_path_factory.mktemp("cache")
    os.environ["FOLEY_DESKTOP_CACHE"] = str(cache)
    folder = devpkg.build(tmp_path_factory.mktemp("b") / "dit", dim=64, blocks=2, steps=3)
    try:
        res = bench(folder, threads=[1], video=clip_tank, prompt="engine idle", end=SR,
                    rounds=2, reps=1, log=lambda *a: None)
    finally:
        del os.environ["FOLEY_DESKTOP_CACHE"]
    return folder, res, cache


def test_json_has_the_issue_keys(result):
    _, res, _ = result
    for key in ("speedup_int8_vs_fp32", "size_ratio_int8_vs_fp32", "memory_ratio_int8_vs_fp32",
                "by_threads", "variants", "int8_variant", "targets", "fastest_acceptable"):
        assert key in res
    assert res["int8_variant"] == "int8" and res["variants"] == ["fp32", "int8"]
    row = res["by_threads"]["1"]["int8"]
    for key in ("peak_rss_mb", "end_to_end_s", "segments_per_s", "size_mb", "quality",
                "stage_ms"):
        assert key in row
    assert set(row["stage_ms"]) == {"text_encoder", "visual_encoder", "denoiser", "decoder"}
    json.dumps(res)                     # plain JSON (no NaN/inf objects, no numpy types)


def test_ratios_follow_from_measurements(result):
    folder, res, _ = result
    rows = res["by_threads"]["1"]
    f, q = rows["fp32"], rows["int8"]
    # Two rounds x one run each, in separate processes: medians of the recorded runs.
    assert len(f["end_to_end_runs"]) == 2 and len(q["end_to_end_runs"]) == 2
    assert f["end_to_end_s"] == pytest.approx(np.median(f["end_to_end_runs"]), abs=1e-6)
    # The speedup is published to three decimals: half a unit there, plus the rounding of the
    # throughputs it is taken from.
    assert res["speedup_int8_vs_fp32"] == pytest.approx(
        np.median(f["end_to_end_runs"]) / np.median(q["end_to_end_runs"]), abs=6e-4)
    pkg = load_package(folder)
    files = sum(e["bytes"] for e in pkg.manifest["files"].values())
    fp32 = files + sum(g.variants["fp32"]["bytes"] for g in pkg.graphs.values())
    int8 = files + sum(g.variants.get("int8", g.variants["fp32"])["bytes"]
                       for g in pkg.graphs.values())
    assert res["size_ratio_int8_vs_fp32"] == pytest.approx(int8 / fp32, abs=1e-4)
    assert res["memory_ratio_int8_vs_fp32"] == pytest.approx(q["peak_rss_mb"] / f["peak_rss_mb"],
                                                             abs=2e-3)
    assert f["peak_rss_mb"] > 50 and f["model_rss_mb"] > 0
    assert f["denoiser_runs"] == 3 and f["deterministic"] and q["deterministic"]


def test_quality_against_fp32(result):
    _, res, _ = result
    rows = res["by_threads"]["1"]
    assert rows["fp32"]["quality"]["identical"] and rows["fp32"]["quality"]["lsd_db"] == 0
    q = rows["int8"]["quality"]
    assert not q["identical"] and 0 < q["lsd_db"] < 3 and q["snr_db"] > 10
    assert 0.0 <= q["onset_f1_vs_fp32"] <= 1.0


def test_findings_and_markdown(result):
    folder, res, cache = result
    doc = json.loads((cache / "bench" / "test-dit-0.0.1.json").read_text())
    best = res["fastest_acceptable"]
    assert doc["providers"]["cpu"]["variant"] == best
    import os
    os.environ["FOLEY_DESKTOP_CACHE"] = str(cache)
    try:
        pkg = load_package(folder)
        pref = findings.preferred_variants(pkg, "cpu")
        assert findings.preferred_variants(pkg, "cuda") is None      # not measured there
        role, prec = next(iter(pref.items()))
        pkg.graphs[role].variants[prec]["sha256"] = "0" * 64          # the file was replaced
        stale = findings.preferred_variants(pkg, "cpu")
    finally:
        del os.environ["FOLEY_DESKTOP_CACHE"]
    assert pref == res["by_threads"]["1"][best]["graphs"]
    assert stale is None
    md = report.markdown(res)
    assert "| version | peak RSS MB" in md and "| int8" in md and "speedup_int8_vs_fp32" in md


def test_metrics_on_known_signals():
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    clicks = np.zeros_like(t)
    events = np.array([0.3, 0.8, 1.3, 1.7]) * SR
    for e in events.astype(int):
        clicks[e:e + 2400] += np.exp(-np.arange(2400) / 300) * rng.standard_normal(2400)
    found = report.onsets(clicks)
    assert report.onset_f1(events, found) == 1.0
    assert report.onset_f1(events, found + SR // 5) == 0.0
    assert report.log_spectral_distance(clicks, clicks) == 0.0
    noisy = clicks + 0.01 * rng.standard_normal(len(clicks))
    assert 0 < report.log_spectral_distance(clicks, noisy) < report.log_spectral_distance(
        clicks, clicks + 0.1 * rng.standard_normal(len(clicks)))
