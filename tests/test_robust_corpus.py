"""The bad-input corpus, run through the user-facing paths.

Every case goes through the real CLI in a subprocess (a user's mistake: exit 2, one line on
stderr, no traceback, nothing written and the project file byte-for-byte unchanged; an odd but
valid file: it works) and through the GUI's open path (an error reported by the non-modal hook
`MainWindow.show_error`, never an exception; the open project stays as it was). Layer tests
(test_media_bad_input, test_engine_*, test_project_*) check the individual errors in detail;
this module checks that every one of them reaches the user the same clean way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from media_factory import cfr_pts, write_audio, write_video

REPO = Path(__file__).resolve().parent.parent
TB = Fraction(1, 12800)


def cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
                          env={**os.environ, **(env or {})})


def assert_user_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback, naming what went wrong."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "Traceback" not in r.stderr and len(err.splitlines()) == 1, r.stderr
    for n in needles:
        assert n.lower() in err.lower(), (n, err)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ----------------------------------------------------------------------------- the corpus

@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clip_hello) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    c: dict[str, Path] = {}
    c["corrupt"] = d / "corrupt.mp4"
    c["corrupt"].write_bytes(bytes(range(256)) * 64)
    c["truncated"] = d / "truncated.mp4"
    data = clip_hello.read_bytes()
    c["truncated"].write_bytes(data[: len(data) // 3])
    c["mislabelled text"] = d / "shopping list.mov"
    c["mislabelled text"].write_text("eggs, milk, a new camera\n")
    c["0-byte"] = d / "empty.mp4"
    c["0-byte"].touch()
    c["audio-only"] = write_audio(d / "voice memo.m4a", 48000, 1.0)
    return c


@pytest.fixture(scope="module")
def odd_clips(tmp_path_factory, clip_phone) -> dict[str, Path]:
    """Valid but unusual clips: each must open and make a project."""
    d = tmp_path_factory.mktemp("odd")
    fps = Fraction(25)
    c = {
        "1-frame": write_video(d / "one frame.mp4", cfr_pts(1, fps, TB), TB, fps_hint=fps),
        # 8K: three frames at a very low bitrate, so it is quick to make and small on disk.
        "8K": write_video(d / "8k.mp4", cfr_pts(3, fps, TB), TB, size=(7680, 4320),
                          fps_hint=fps, options={"crf": "51"}),
        "variable frame rate": clip_phone,
        "rotated phone": write_video(d / "rotated.mp4", cfr_pts(20, fps, TB), TB, size=(160, 96),
                                     fps_hint=fps, rotation_ccw=90),
        "audio shorter than video": write_video(
            d / "short audio.mp4", cfr_pts(50, fps, TB), TB, size=(160, 96), fps_hint=fps,
            audio={"rate": 48000, "seconds": 0.25}),
    }
    return c


BAD_MEDIA = {"corrupt": "not a media file", "truncated": "truncated",
             "mislabelled text": "not a media file", "0-byte": "empty",
             "audio-only": "no video stream"}


@pytest.fixture
def project(tmp_path, clip_tank) -> Path:
    """A saved project with one segment, in its own folder."""
    folder = tmp_path / "proj"
    folder.mkdir()
    p = folder / "tank.foley"
    assert cli("project", "new", clip_tank, "-o", p).returncode == 0
    r = cli("project", "add-segment", p, "--start", "1", "--end", "2", "--prompt", "motor")
    assert r.returncode == 0, r.stderr
    return p


# ----------------------------------------------------------------------------- CLI

def test_cli_bad_media_exit_2_one_line_nothing_written(corpus, tmp_path):
    for kind, path in corpus.items():
        out = tmp_path / kind
        out.mkdir()
        r = cli("project", "new", path, "-o", out / "p.foley")
        assert_user_error(r, BAD_MEDIA[kind])
        r = cli("probe", path)
        if kind == "audio-only":
            assert r.returncode == 0, r.stderr  # probing an audio file is fine
        else:
            assert_user_error(r, BAD_MEDIA[kind])
        assert list(out.iterdir()) == [], kind


def test_cli_odd_clips_make_projects(odd_clips, tmp_path):
    for kind, path in odd_clips.items():
        out = tmp_path / f"{kind}.foley"
        r = cli("project", "new", path, "-o", out)
        assert r.returncode == 0, (kind, r.stderr)
        doc = json.loads(out.read_text())
        assert doc["media_info"]["duration_samples"] > 0, kind
        if kind == "rotated phone":  # displayed upright: width and height swap
            assert (doc["media_info"]["width"], doc["media_info"]["height"]) == (96, 160)
        if kind == "8K":
            assert doc["media_info"]["width"] == 7680


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "not JSON", "future version",
                                  "mislabelled video", "0-byte", "points outside"])
def test_cli_bad_project_files(kind, tmp_path, project, clip_tank):
    bad = tmp_path / "bad.foley"
    doc = json.loads(project.read_text())
    if kind == "corrupt":
        bad.write_text(project.read_text().replace('"segments"', '"segm\x00ents"', 1)[:-30])
        needle = "corrupt"
    elif kind == "truncated":
        bad.write_bytes(project.read_bytes()[:100])
        needle = "corrupt"
    elif kind == "not JSON":
        bad.write_bytes(b"\xff\xfe\x00garbage")
        needle = "not a project file"
    elif kind == "future version":
        doc["format_version"] = 99
        bad.write_text(json.dumps(doc))
        needle = "newer Foley Desktop"
    elif kind == "mislabelled video":
        shutil.copy(clip_tank, bad)
        needle = "not a project file"
    elif kind == "0-byte":
        bad.touch()
        needle = "corrupt"
    else:
        bad = project.parent / "evil.foley"
        doc["stems"] = {"dialogue": "../../outside/dialogue.wav"}
        bad.write_text(json.dumps(doc))
        needle = "outside the project folder"
    before = bad.read_bytes()
    for args in (("project", "show", bad), ("export", bad, "-o", tmp_path / "out"),
                 ("project", "add-segment", bad, "--start", "0", "--end", "1", "--prompt", "x")):
        assert_user_error(cli(*args), needle)
        assert bad.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_cli_prompts_empty_long_emoji_chinese(project):
    before = project.read_bytes()
    r = cli("project", "add-segment", project, "--start", "3", "--end", "4", "--prompt", "")
    assert_user_error(r, "prompt")
    assert project.read_bytes() == before
    for prompt in ("狗在叫，雨声", "🐕 bark 🌧️ rain", "footsteps " * 1000):
        r = cli("project", "add-segment", project, "--start", "3", "--end", "4", "--prompt", prompt)
        if r.returncode == 0:
            doc = json.loads(project.read_text())
            assert doc["segments"][-1]["prompt"] == prompt
            assert cli("project", "remove-segment", project,
                       doc["segments"][-1]["id"]).returncode == 0
        else:
            assert_user_error(r, "prompt")
            assert project.read_bytes() == before


def test_cli_generate_with_odd_prompts_runs(tmp_path, model_pkg):
    """Empty prompt: refused; 10 kB, emoji, Chinese: the tokenizer copes (clipped to the
    model's token limit)."""
    out = tmp_path / "o.wav"
    r = cli("generate", "--model", model_pkg, "--prompt", "", "--duration", "0.5", "-o", out)
    assert_user_error(r, "prompt")
    assert not out.exists()
    for i, prompt in enumerate(("x" * 10_000, "🐕🌧️", "狗在叫")):
        o = tmp_path / f"o{i}.wav"
        r = cli("generate", "--model", model_pkg, "--prompt", prompt, "--duration", "0.5",
                "--seed", "1", "-o", o)
        assert r.returncode == 0, r.stderr
        assert o.stat().st_size > 1000


@pytest.fixture(scope="module")
def model_pkg(tmp_path_factory) -> Path:
    from foley_desktop.engine import testpkg

    return testpkg.build(tmp_path_factory.mktemp("pkg") / "test-analytic", int8=False)


def test_cli_tampered_model_package(tmp_path, model_pkg):
    pkg = tmp_path / "pkg"
    shutil.copytree(model_pkg, pkg)
    f = pkg / "denoiser.fp32.onnx"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0xFF
    f.write_bytes(bytes(data))
    out = tmp_path / "o.wav"
    r = cli("generate", "--model", pkg, "--prompt", "rain", "--duration", "0.5", "-o", out)
    assert_user_error(r, "SHA-256 mismatch", "denoiser.fp32.onnx")
    assert not out.exists()


def test_cli_unicode_and_very_long_paths(tmp_path, clip_tank):
    deep = tmp_path / "Проект 🎬 音效"
    for i in range(12):  # ~1 kB of path: far past the old 260-character limits
        deep = deep / (f"{i:02d}-" + "ü" * 40)
    deep.mkdir(parents=True)
    clip = deep / "clip ✓.mp4"
    shutil.copy(clip_tank, clip)
    p = deep / "projet été.foley"
    assert cli("project", "new", clip, "-o", p).returncode == 0
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "雨")
    assert r.returncode == 0, r.stderr
    r = cli("export", p, "-o", deep / "export", "--stems", "background", "--no-timeline")
    assert r.returncode == 0, r.stderr
    assert any(f.suffix == ".wav" for f in (deep / "export").iterdir())


def test_cli_file_name_over_the_limit(tmp_path, clip_tank):
    r = cli("project", "new", clip_tank, "-o", tmp_path / ("n" * 300 + ".foley"))
    assert_user_error(r, "name too long")
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def mounted(args: list[str], target: Path):
    if subprocess.run(["mount", *args, str(target)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount here (needs root in a container that allows it)")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_cli_read_only_folder_leaves_project_intact(project):
    folder = project.parent
    before = tree(folder)
    with mounted(["--bind", "-o", "ro", str(folder)], folder):
        r = cli("project", "add-segment", project, "--start", "3", "--end", "4", "--prompt", "x")
        assert_user_error(r, "read-only file system")
        r = cli("project", "new", project.with_name("other.mp4"), "-o", folder / "n.foley")
        assert r.returncode == 2 and "Traceback" not in r.stderr
    assert tree(folder) == before


def test_cli_full_disk_leaves_project_intact(tmp_path, clip_tank):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    with mounted(["-t", "tmpfs", "-o", "size=256k", "tmpfs"], mnt):
        p = mnt / "p.foley"
        assert cli("project", "new", clip_tank, "-o", p).returncode == 0
        # Fill the disk to the last block.
        with contextlib.suppress(OSError), open(mnt / "filler", "wb", buffering=0) as fh:
            while True:
                fh.write(b"\0" * 4096)
        before = tree(mnt)
        r = cli("project", "add-segment", p, "--start", "1", "--end", "2",
                "--prompt", "a long prompt " * 400)
        assert_user_error(r, "No space left on device")
        assert tree(mnt) == before
        r = cli("export", p, "-o", mnt / "export", "--stems", "background", "--no-timeline")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "space" in r.stderr.lower()
        (mnt / "filler").unlink()


# ----------------------------------------------------------------------------- GUI open path

@pytest.mark.gui
def test_gui_open_reports_every_bad_file_and_keeps_the_project(qtbot, qapp, tmp_path, corpus,
                                                               odd_clips, project, monkeypatch):
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    monkeypatch.setenv("FOLEY_DESKTOP_CACHE", str(tmp_path / "cache"))
    w = MainWindow(Settings(str(tmp_path / "settings.ini")))
    w._skip_save_prompt = True
    qtbot.addWidget(w)
    try:
        assert w.open_path(project)
        opened = w.doc.project
        bad_projects = tmp_path / "badp"
        bad_projects.mkdir()
        (bad_projects / "trunc.foley").write_bytes(project.read_bytes()[:80])
        doc = json.loads(project.read_text())
        doc["format_version"] = 7
        (bad_projects / "future.foley").write_text(json.dumps(doc))
        doc["format_version"] = 1
        doc["segments"][0]["takes"] = [{"id": "t1", "path": "/etc/passwd", "seed": 1}]
        (project.parent / "evil.foley").write_text(json.dumps(doc))
        cases = {**{k: (p, BAD_MEDIA[k]) for k, p in corpus.items()},
                 "truncated project": (bad_projects / "trunc.foley", "corrupt"),
                 "future project": (bad_projects / "future.foley", "newer Foley Desktop"),
                 "project pointing outside": (project.parent / "evil.foley", "outside"),
                 "missing": (tmp_path / "nope.mp4", "no such file")}
        for kind, (path, needle) in cases.items():
            w.last_error = None
            assert w.open_path(path) is False, kind
            assert w.last_error and needle.lower() in w.last_error.lower(), (kind, w.last_error)
            assert "\n" not in w.last_error
            assert w._error_box.isVisible() and not w._error_box.isModal()
            assert w.doc.project is opened, kind  # the open project stays
        for kind, path in odd_clips.items():
            w.last_error = None
            assert w.open_path(path), (kind, w.last_error)
            assert w.doc.project.duration_samples > 0
    finally:
        w.close()
