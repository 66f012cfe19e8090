"""`foley-desktop generate` end to end: real WAV files read back with the stdlib reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from foley_desktop.engine import testpkg

SR = 48000


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("cli") / "analytic")


@pytest.fixture
def env(tmp_path):
    """No shipped or user models: only what a test passes with --model."""
    return {**os.environ, "FOLEY_DESKTOP_DATA": str(tmp_path / "data"),
            "FOLEY_DESKTOP_RESOURCES": str(tmp_path / "resources"),
            "FOLEY_DESKTOP_CACHE": str(tmp_path / "cache")}


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *args], check=False,
                          capture_output=True,
                          text=True, env=env, timeout=120)


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (SR, 3, 1)
        raw = w.readframes(w.getnframes())
    b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v = np.where(v >= 1 << 23, v - (1 << 24), v)
    return v / float(1 << 23)


def test_text_only_generation_writes_exact_length_24bit_wav(pkg, env, tmp_path):
    out = tmp_path / "rain.wav"
    r = cli(env, "generate", "--prompt", "light rain", "--duration", "2.5", "--seed", "7",
            "--model", str(pkg), "--json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["model"] == "test-analytic" and report["seeds"] == [7]
    assert report["provider"] == "cpu" and report["variant"] == "int8 (decoder fp32)"
    assert report["files"] == [str(out)] and report["samples"] == int(2.5 * SR)
    assert {"total_s", "denoise_s", "decode_s"} <= set(report["timings"])
    audio = read_wav(out)
    assert len(audio) == int(2.5 * SR)
    assert 0.01 < np.abs(audio).max() < 10 ** (-1 / 20)
    # Same seed again: bit-identical file.
    out2 = tmp_path / "rain2.wav"
    r = cli(env, "generate", "--prompt", "light rain", "--duration", "2.5", "--seed", "7",
            "--model", str(pkg), "-o", str(out2))
    assert r.returncode == 0, r.stderr
    assert np.array_equal(read_wav(out), read_wav(out2))   # the metadata has a date
    assert "seed 7" in r.stdout and "provider cpu" in r.stdout


def test_the_wav_says_what_made_it(pkg, env, tmp_path):
    """bext: the prompt; iXML USER: every parameter, the model's name and hash, the app's
    version (read back by wavinfo); the same record as --json's."""
    import xml.etree.ElementTree as ET

    import wavinfo

    out = tmp_path / "slam.wav"
    r = cli(env, "generate", "--prompt", "door slam", "--negative", "music", "--duration", "0.5",
            "--seed", "3", "--steps", "3", "--guidance", "1.5", "--model", str(pkg), "--json",
            "-o", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    rec = report["params"]
    assert (rec["prompt"], rec["negative"], rec["steps"], rec["guidance"], rec["seed"]) == \
        ("door slam", "music", 3, 1.5, 3)
    assert rec["model"] == "test-analytic" and len(rec["model_hash"]) == 16
    assert rec["effective"]["steps"] == 3 and rec["engine_version"]
    info = wavinfo.WavInfoReader(str(out))
    assert info.bext.description == "Foley: door slam"
    user = ET.fromstring(info.ixml.source).find("USER").text.splitlines()
    assert f"model_hash: {rec['model_hash']}" in user and "negative: music" in user
    assert "steps: 3" in user and "effective.steps: 3" in user and "seed: 3" in user
    assert len(read_wav(out)) == SR // 2


def test_variations_write_numbered_files(pkg, env, tmp_path):
    out = tmp_path / "take.wav"
    r = cli(env, "generate", "--prompt", "door slam", "--duration", "0.75", "--seed", "100",
            "--variations", "3", "--steps", "3", "--sampler", "heun", "--guidance", "1.5",
            "--precision", "fp32", "--provider", "cpu", "--loudness", "-20",
            "--model", str(pkg), "--json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["seeds"] == [100, 101, 102] and report["variant"] == "fp32"
    assert report["sampler"] == "heun" and report["steps"] == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["take-1.wav", "take-2.wav", "take-3.wav"]
    takes = [read_wav(tmp_path / n) for n in names]
    assert all(len(t) == 36000 for t in takes)
    assert not np.allclose(takes[0], takes[1], atol=1e-3)


def test_video_segment(pkg, env, tmp_path, clip_tank):
    out = tmp_path / "tank.wav"
    r = cli(env, "generate", str(clip_tank), "--prompt", "engine motor idle", "--start", "1.0",
            "--end", "00:00:04.250", "--model", str(pkg), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(read_wav(out)) == int(3.25 * SR)


def test_visual_guidance_flag(pkg, env, tmp_path, clip_tank):
    """--visual-guidance runs the three-row batch (a different take from plain guidance), is
    reported, and a value outside the model's range exits 2 and writes nothing."""
    base = ["generate", str(clip_tank), "--prompt", "engine motor idle", "--end", "2",
            "--model", str(pkg), "--seed", "5", "--json"]
    r1 = cli(env, *base, "-o", str(tmp_path / "a.wav"))
    r2 = cli(env, *base, "--visual-guidance", "6", "-o", str(tmp_path / "b.wav"))
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert "visual_guidance" not in json.loads(r1.stdout)
    assert json.loads(r2.stdout)["visual_guidance"] == 6.0
    a, b = read_wav(tmp_path / "a.wav"), read_wav(tmp_path / "b.wav")
    assert len(a) == len(b) == 2 * SR and np.abs(a - b).max() > 1e-3
    r3 = cli(env, *base, "--visual-guidance", "99", "-o", str(tmp_path / "c.wav"))
    assert r3.returncode == 2 and "visual guidance must be within" in r3.stderr
    assert "Traceback" not in r3.stderr and not (tmp_path / "c.wav").exists()


def test_cuda_request_falls_back_with_a_reason(pkg, env, tmp_path):
    from foley_desktop.engine.providers import unavailable_reason
    if unavailable_reason("cuda") is None:
        pytest.skip("CUDA libraries are present on this machine")
    r = cli(env, "generate", "--prompt", "rain", "--duration", "0.5", "--provider", "cuda",
            "--model", str(pkg), "-o", str(tmp_path / "o.wav"))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("provider:"))
    assert "cuda unavailable (CUDA/cuDNN libraries missing: lib" in line
    assert line.endswith("running on CPU")
    assert "provider cpu" in r.stdout
    assert "onnxruntime" not in r.stderr          # ORT's own multi-line noise is suppressed


def test_no_model_installed_says_so(env, tmp_path):
    r = cli(env, "generate", "--prompt", "rain", "--duration", "1", "-o", str(tmp_path / "o.wav"))
    assert r.returncode == 2
    assert "no model installed" in r.stderr and "foley-tiny" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("args, message", [
    (["--prompt", "", "--duration", "1"], "prompt is empty"),
    (["--prompt", "rain", "--start", "2", "--end", "1"], "must be after its start"),
    (["--prompt", "rain"], "without VIDEO, give --duration"),
    (["--prompt", "rain", "--duration", "1", "--steps", "0"], "steps must be within"),
    (["--prompt", "rain", "--duration", "1", "--variations", "0"], "--variations"),
    (["--prompt", "rain", "--duration", "abc"], "bad time"),
])
def test_bad_input_exits_2_and_writes_nothing(pkg, env, tmp_path, args, message):
    out = tmp_path / "out"
    out.mkdir()
    r = cli(env, "generate", *args, "--model", str(pkg), "-o", str(out / "o.wav"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert list(out.iterdir()) == []


def test_segment_outside_clip_exits_2(pkg, env, tmp_path, clip_tank):
    r = cli(env, "generate", str(clip_tank), "--prompt", "rain", "--start", "5", "--end", "9",
            "--model", str(pkg), "-o", str(tmp_path / "o.wav"))
    assert r.returncode == 2 and "outside the clip" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_nan_model_and_unreadable_package_exit_2(env, tmp_path):
    bad = testpkg.build(tmp_path / "nan", kind="nan", int8=False)
    out = tmp_path / "out"
    out.mkdir()
    r = cli(env, "generate", "--prompt", "rain", "--duration", "1", "--model", str(bad),
            "-o", str(out / "o.wav"))
    assert r.returncode == 2 and "NaN or Inf" in r.stderr
    (bad / "manifest.json").write_text("garbage")
    r = cli(env, "generate", "--prompt", "rain", "--duration", "1", "--model", str(bad),
            "-o", str(out / "o.wav"))
    assert r.returncode == 2 and "manifest.json" in r.stderr and "Traceback" not in r.stderr
    r = cli(env, "generate", "--prompt", "rain", "--duration", "1", "--model",
            str(tmp_path / "nowhere"), "-o", str(out / "o.wav"))
    assert r.returncode == 2 and "not a folder" in r.stderr
    assert list(out.iterdir()) == []
