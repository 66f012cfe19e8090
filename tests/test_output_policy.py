"""One output-path policy and one-line CLI errors (issue #26): no job writes onto its own
input, a folder or a non-WAV name; argparse mistakes, bad text and closed pipes end quietly."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "resources/demo/footsteps_gravel.mp4"


def cli(*args, cwd=None, **kw):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(os.fsdecode, args)],
                          capture_output=True, text=True, check=False, cwd=cwd, **kw)


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def clip(tmp_path) -> Path:
    c = tmp_path / "shot.mp4"
    shutil.copy(DEMO, c)
    return c


@pytest.mark.parametrize("make_out, message", [
    (lambda d, c: c, "it is an input of this job"),
    (lambda d, c: (d / "alias.wav").symlink_to(c) or d / "alias.wav", "it is an input of this job"),
    (lambda d, c: os.link(c, d / "hard.wav") or d / "hard.wav", "it is an input of this job"),
    (lambda d, c: d, "is a folder"),
    (lambda d, c: d / "take.mp3", "name it take.wav"),
    (lambda d, c: d / "missing" / "take.wav", "no such folder"),
])
def test_generate_never_writes_onto_its_input(tmp_path, clip, make_out, message):
    before = digest(clip)
    out = make_out(tmp_path, clip)
    r = cli("generate", clip, "--prompt", "footsteps", "-o", out)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert digest(clip) == before


def test_separate_refuses_an_input_named_like_its_output(tmp_path, media_root):
    src = next((media_root / "usr/share/pocketsphinx/test/data/librivox").glob("*.wav"), None)
    if src is None:
        pytest.skip("pocketsphinx-testdata missing (scripts/fetch_test_media.sh)")
    inp = tmp_path / "dialogue.wav"
    shutil.copy(src, inp)
    before = digest(inp)
    r = cli("separate", "dialogue.wav", "-o", ".", cwd=tmp_path)
    assert r.returncode == 2 and "input of this job" in r.stderr
    assert digest(inp) == before and not (tmp_path / "background.wav").exists()


def test_argument_mistakes_and_bad_text_are_one_line(tmp_path, clip):
    r = cli("generate", clip, "--provider", "banana", "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'banana'" in r.stderr and "usage:" not in r.stderr
    r = cli("generate", clip, "--prompt", os.fsdecode(b"\xff\xfe steps"), "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and "not valid UTF-8" in r.stderr and "Traceback" not in r.stderr
    r = cli("generate", clip, "--prompt", "x", "--loudness", "inf", "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and "--loudness" in r.stderr
    r = cli("generate", clip, "--prompt", "x", "--variations", "20000", "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and "at most 64" in r.stderr
    assert not list(tmp_path.glob("a*.wav"))


@pytest.mark.parametrize("blocked", [False, True])
def test_a_closed_pipe_ends_quietly(blocked):
    """Also when the parent hands SIGPIPE down blocked (the signal mask survives exec; the full
    suite once did, after an audio library's threads): a traceback then, now one quiet exit."""
    import signal

    def pre() -> None:
        if blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})

    r = subprocess.run(f"'{sys.executable}' -m foley_desktop models --verify | head -1",
                       shell=True, capture_output=True, text=True, check=False, preexec_fn=pre)
    assert r.stdout.strip() and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def test_damaged_samples_are_repaired_with_a_count(tmp_path, media_root):
    """One 1e30 sample and one NaN used to make both stems 100 % NaN (every backend)."""
    import numpy as np
    import soundfile as sf

    src = next((media_root / "usr/share/pocketsphinx/test/data/librivox").glob("*.wav"), None)
    if src is None:
        pytest.skip("pocketsphinx-testdata missing (scripts/fetch_test_media.sh)")
    a, sr = sf.read(src, dtype="float32")
    a[1000], a[2000] = 1e30, np.nan
    sf.write(tmp_path / "bad.wav", a, sr, subtype="FLOAT")
    r = cli("separate", tmp_path / "bad.wav", "-o", tmp_path / "out", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "damaged sample(s)" in r.stderr
    for name in ("dialogue", "background"):
        x, _ = sf.read(tmp_path / "out" / f"{name}.wav")
        assert np.isfinite(x).all() and np.abs(x).max() <= 16.0


def test_a_fifo_is_refused_instead_of_hanging(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "probe", str(fifo)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "not a regular file" in r.stderr
    proj = tmp_path / "p.foley"
    os.mkfifo(proj)
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "project", "show", str(proj)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "not a project file" in r.stderr


def test_stale_temp_files_of_killed_writers_are_swept(tmp_path):
    """kill -9 mid-write leaves hidden temp files; the next write into the folder removes
    those whose writer is gone (or, pid-less from older versions, over an hour old) and keeps
    a live writer's."""
    import time

    from foley_desktop.fsutil import atomic_write, sweep_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [tmp_path / f".take.wav.{dead}.partial", tmp_path / f".FX.wav.{dead}.k2j3x8a1.tmp"]
    old = tmp_path / ".stem.wav.partial"
    live = tmp_path / f".other.wav.{os.getpid()}.partial"
    keep = [tmp_path / ".hidden-config", tmp_path / "take.wav", live]
    for p in [*stale, old, *keep]:
        p.write_bytes(b"x" * 10)
    t = time.time() - 2 * 3600
    os.utime(old, (t, t))
    assert sweep_stale_temps(tmp_path) == 3
    assert all(not p.exists() for p in [*stale, old]) and all(p.exists() for p in keep)
    # atomic_write names its temp file with the writer's pid.
    with atomic_write(tmp_path / "x.json", "w") as fh:
        fh.write("{}")
        temps = [p.name for p in tmp_path.glob(".x.json.*.tmp")]
        assert len(temps) == 1 and temps[0].startswith(f".x.json.{os.getpid()}.")


def test_huge_durations_are_refused_before_anything_is_allocated(tmp_path):
    for args in (["--duration", "99999999"], ["--duration", "108000"],
                 ["--duration", "600", "--variations", "20"]):
        r = cli("generate", "--prompt", "rain", *args, "-o", tmp_path / "a.wav")
        assert r.returncode == 2 and "hours" in r.stderr and "Traceback" not in r.stderr


def test_streamed_noise_equals_the_whole_draw():
    """Windows draw their noise as they go; the values are those of one draw of the whole
    segment, so a take does not depend on how it is cut into windows."""
    import numpy as np

    from foley_desktop.engine.sampler import NoiseStream, initial_noise

    whole = initial_noise(11, (1000, 8)).T
    stream = NoiseStream(11, 8)
    for f0, n in ((0, 200), (160, 200), (320, 200), (480, 200), (640, 360)):
        assert np.array_equal(stream.window(f0, n), whole[:, f0:f0 + n])
    with pytest.raises(ValueError):
        stream.window(0, 10)


def test_an_export_never_replaces_its_inputs_and_a_failed_one_leaves_no_folder(tmp_path, clip):
    """Exporting into the clip's own folder with the clip named like an export file is refused
    before anything is written; a failed export into a new folder removes that folder."""
    from foley_desktop.errors import ExportError
    from foley_desktop.export.export import export_project
    from foley_desktop.project import io

    named = tmp_path / "shot_FoleyMix.mov"          # the name --mux would write
    shutil.copy(clip, named)
    p = io.new_project(named, name="shot")
    io.save(p, tmp_path / "p.foley")
    before = digest(named)
    with pytest.raises(ExportError, match="input of this job"):
        export_project(p, tmp_path, stems=("mix",), timelines=(), mux=True)
    assert digest(named) == before
    p.media = tmp_path / "gone.mov"                 # the export fails reading the clip
    fresh = tmp_path / "new-folder"
    with pytest.raises(ExportError):
        export_project(p, fresh, stems=("mix",), timelines=(), mux=True)
    assert not fresh.exists()


def test_outputs_nobody_named_stay_out_of_the_app_and_beside_the_users_clip(tmp_path,
                                                                           monkeypatch):
    """The demo clip lives in the app's resources (in a checkout: among the sources): what is
    made from it by default goes to the user's output folder; a clip of the user's keeps its
    outputs beside it; a folder the user cannot write falls back too."""
    from foley_desktop.outpaths import app_folders, default_folder

    monkeypatch.setenv("FOLEY_DESKTOP_OUTPUT", str(tmp_path / "out"))
    demo = REPO / "resources/demo/walkers.mp4"
    assert default_folder(demo) == tmp_path / "out" and (tmp_path / "out").is_dir()
    assert default_folder(REPO / "x.foley") == tmp_path / "out"     # the checkout itself
    assert REPO in app_folders()
    mine = tmp_path / "shoot" / "a.mp4"
    mine.parent.mkdir()
    mine.write_bytes(b"")
    assert default_folder(mine) == mine.parent
    assert default_folder(None) == tmp_path / "out"
    if os.geteuid() != 0:          # root may write anywhere
        mine.parent.chmod(0o555)
        try:
            assert default_folder(mine) == tmp_path / "out"
        finally:
            mine.parent.chmod(0o755)


def test_separate_without_o_follows_the_output_policy(tmp_path, monkeypatch):
    """`separate CLIP` with no -o: the stems folder goes where every unnamed output goes
    (outpaths.default_folder): for the shipped demo (among the app's files) the user's output
    folder, for a clip of the user's beside it."""
    import argparse

    import foley_desktop.separation as separation
    from foley_desktop.commands import separate as command
    from foley_desktop.errors import FoleyError

    monkeypatch.setenv("FOLEY_DESKTOP_OUTPUT", str(tmp_path / "out"))
    where = []

    def fake_separate(inp, out, **_kw):   # the folder decision only; the job has its own tests
        where.append(Path(out))
        raise FoleyError("stop")

    monkeypatch.setattr(separation, "separate", fake_separate)
    mine = tmp_path / "shoot" / "take 3.mp4"
    mine.parent.mkdir()
    shutil.copy(DEMO, mine)
    for clip_path in (DEMO, mine):
        args = argparse.Namespace(input=str(clip_path), out=None, backend="default", model=None,
                                  quiet=True)
        with pytest.raises(FoleyError, match="stop"):
            command.run(args)
    assert where == [tmp_path / "out" / "footsteps_gravel-stems", mine.parent / "take 3-stems"]
