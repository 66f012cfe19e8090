"""Shared fixtures: real media fetched by scripts/fetch_test_media.sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def media_root() -> Path:
    """Root of the unpacked Debian media packages (fetched on first use)."""
    base = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media"))
    root = base / "root"
    if not (base / ".done-forensics-samples-files").exists():
        subprocess.run([str(REPO / "scripts/fetch_test_media.sh")], check=True,
                       env={**os.environ, "FOLEY_MEDIA_DIR": str(base)})
    return root


@pytest.fixture(scope="session")
def clip_hello(media_root) -> Path:
    """8.3 s 720p H.264 + AAC 48 kHz stereo: a spoken word, then keyboard typing (CC-BY-SA-4.0)."""
    return media_root / "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"


@pytest.fixture(scope="session")
def clip_phone(media_root) -> Path:
    """1.6 s 1080p variable-frame-rate phone video (CC-BY-SA-4.0)."""
    return media_root / "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4"


@pytest.fixture(scope="session")
def clip_tank(media_root) -> Path:
    """5.6 s 560x320 30 fps, mono AAC 48 kHz: a toy tank's motor (MIT)."""
    return media_root / "usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4"


@pytest.fixture(scope="module")
def parts(media_root):
    """(speech, music) for a 0 dB mixture: a LibriVox sentence with 0.75 s of silence either
    side, and loop_amen looped to its length, scaled together to a 0.9 peak sum."""
    import numpy as np

    from foley_desktop.media import read_audio
    from foley_desktop.separation import evaluate as ev

    speech = "usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
    s = read_audio(media_root / speech, mono=True)[0]
    s = np.concatenate([np.zeros(ev.PAD, np.float32), s, np.zeros(ev.PAD, np.float32)])
    music = media_root / "usr/share/sonic-pi/samples/loop_amen.flac"
    n = np.resize(read_audio(music, mono=True)[0], len(s))
    n = (n * np.sqrt(np.dot(s, s) / np.dot(n, n))).astype(np.float32)  # 0 dB
    g = 0.9 / np.abs(s + n).max()
    return s * g, n * g


# ---- the desktop window (pytest-qt, offscreen): one copy for every GUI test file ----------

@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A user data folder holding two real test packages: a fast one and a slow one."""
    from foley_desktop.engine import testpkg

    data = tmp_path_factory.mktemp("foley-data")
    testpkg.build(data / "models" / "test-analytic", name="test-analytic", int8=False)
    testpkg.build(data / "models" / "test-slow", name="test-slow", int8=False, slow=400,
                  steps=50)
    return data


@pytest.fixture
def gui_env(tmp_path, model_dir, monkeypatch) -> Path:
    """The test packages as the user's models and a fresh cache folder."""
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(model_dir))
    monkeypatch.setenv("FOLEY_DESKTOP_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def make_win(qtbot, qapp, gui_env):
    """A factory of main windows with their settings in the test's folder; every window it
    made is closed after the test, which fails if a timer or worker of it still runs."""
    from PySide6.QtCore import QTimer

    from foley_desktop.ui import theme, workers
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    made = []

    def make(show: bool = True):
        theme.apply_theme(qapp)
        w = MainWindow(Settings(str(gui_env / "settings.ini")))
        w._skip_save_prompt = True  # no modal question when the test closes it
        qtbot.addWidget(w)
        if show:
            w.resize(1400, 880)
            w.show()
            qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w._skip_save_prompt = True
        w.close()
        # Leak check: nothing of the window may still run after it closed.
        timers = [t for t in w.findChildren(QTimer) if t.isActive()]
        assert not timers, f"timers left running: {[t.parent() for t in timers]}"
    busy = [p.objectName() for p in workers.POOLS if p.activeThreadCount()]
    assert not busy, f"worker pools still busy: {busy}"


@pytest.fixture
def win(make_win):
    """The main window, shown, on the test packages."""
    return make_win()
