"""A real PortAudio output device without a sound card, for the playback tests and benchmarks.

A JACK server with its dummy driver (`jackd -d dummy`) runs the audio graph in real time from
a timer, as a sound card's interrupts would. An ALSA configuration, handed to the app through
ALSA_CONFIG_PATH before PortAudio initializes, makes the default ALSA device a `file` plugin
(which writes every frame the app plays to a raw float32 file) in front of the `jack` plugin
(libasound2-plugins), which feeds the JACK graph and so paces the stream. Its two ports are
connected to `capture_client` ports, so a test can also record when each sample reached the
"hardware". Everything lives in one temp folder with a server name of its own: nothing touches
the machine's audio setup, and `sounddevice` in a process without that environment still sees
no device.

    with VirtualSink(folder) as sink:   # starts jackd, writes the ALSA config
        env = sink.env()                # ALSA_CONFIG_PATH, JACK_DEFAULT_SERVER for the app
        ...                             # frames played land in sink.raw_path

Needs: jackd (Debian jackd2), the ALSA jack plugin (libasound2-plugins); `available()` says
why not when one is missing. The capture client needs the JACK-Client Python package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

SR = 48000
PERIOD = 256  # JACK period: 5.3 ms cycles
JACK_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib",
                    "/usr/lib/alsa-lib", "/usr/lib64/alsa-lib")
CAPTURE = "foleycap"  # the test's JACK client that records what the device plays
RT_PRIORITY = 70      # jackd's SCHED_FIFO priority when it may have one (realtime_args)
FOREGROUND_NICE = 5   # how much nicer than its parent the app under test runs (foreground)


def available() -> str | None:
    """None when the virtual device can be set up here, else why not (a skip reason)."""
    if shutil.which("jackd") is None:
        return "jackd not installed (Debian package jackd2)"
    if not any(Path(d, "libasound_module_pcm_jack.so").exists() for d in JACK_PLUGIN_DIRS):
        return "ALSA jack plugin not installed (Debian package libasound2-plugins)"
    if not Path("/usr/share/alsa/alsa.conf").exists():
        return "ALSA configuration /usr/share/alsa/alsa.conf missing (libasound2-data)"
    return None


def realtime_args() -> list[str]:
    """jackd's scheduling: real-time (SCHED_FIFO) where this process may grant it, else none.

    The dummy driver is the virtual sound card's clock. Without real-time priority it is one
    more process on a shared machine: under load its cycles run late and it plays slower than
    real time (measured on the 2-core machine with the test suite beside it: half the samples
    in the time played, the picture 40-200 ms "ahead" of a sound that was merely late), which
    no real sound card does. SCHED_FIFO keeps its cycles on time; it also carries over to the
    process threads of its clients (the app's ALSA stream, the capture client)."""
    if os.environ.get("FOLEY_TEST_JACK_REALTIME", "1") == "0":
        return ["--no-realtime"]
    try:
        ok = subprocess.run(["chrt", "-f", str(RT_PRIORITY), "true"], capture_output=True,
                            timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return ["--realtime", "--realtime-priority", str(RT_PRIORITY)] if ok else ["--no-realtime"]


def foreground() -> None:
    """Run in the app's child process before it starts (subprocess preexec_fn): the app gets
    the scheduling share of a foreground program, a few nice steps above the batch jobs a
    shared test machine runs beside it (other test processes, builds), where it may. What the
    tests measure is the app's sync logic; on 2 cores next to two busy processes of equal
    priority the GUI thread alone can fall 4 frames behind decoding backwards."""
    try:
        os.nice(-FOREGROUND_NICE)
    except OSError:
        pass   # not permitted here: the app runs at its parent's priority


class VirtualSink:
    def __init__(self, folder: str | os.PathLike, *, connect_capture: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.server = f"foley-{uuid.uuid4().hex[:8]}"
        self.raw_path = self.folder / "played.f32"
        self.conf_path = self.folder / "asound.conf"
        self.connect_capture = connect_capture
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.conf_path), "JACK_DEFAULT_SERVER": self.server,
                "JACK_NO_AUDIO_RESERVATION": "1", "JACK_NO_START_SERVER": "1"}

    def _write_conf(self) -> None:
        ports = (f'0 "{CAPTURE}:in_1" 1 "{CAPTURE}:in_2"' if self.connect_capture
                 else "0 system:playback_1 1 system:playback_2")
        # The stock configuration first (it defines the plugin types), then our default PCM.
        self.conf_path.write_text(
            "</usr/share/alsa/alsa.conf>\n"
            "pcm.foleyjack {\n  type jack\n"
            f"  playback_ports {{ {ports} }}\n}}\n"
            "pcm.!default {\n  type file\n  slave.pcm \"foleyjack\"\n"
            f"  file \"{self.raw_path}\"\n  format \"raw\"\n}}\n")

    def start(self) -> VirtualSink:
        self._write_conf()
        env = {**os.environ, **self.env()}
        with open(self.folder / "jackd.log", "wb") as log:
            # setpriv --pdeathsig: jackd ends with the process that started it, so a killed test
            # or benchmark leaves no server behind.
            die = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
            self.proc = subprocess.Popen(
                [*die, "jackd", *realtime_args(), "-n", self.server, "-d", "dummy", "-r", str(SR),
                 "-p", str(PERIOD), "-C", "0", "-P", "2"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        # Ready when its socket is there (jackd names it after the server).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("jackd exited: "
                                   + (self.folder / "jackd.log").read_text(errors="replace"))
            if any(self.server in p.name for p in Path("/dev/shm").glob("jack*")) or \
                    self._socket_exists():
                time.sleep(0.2)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("jackd did not start within 10 s")

    def _socket_exists(self) -> bool:
        for base in (os.environ.get("JACK_TMPDIR"), "/dev/shm", "/tmp"):
            if base and any(Path(base).glob(f"jack_{self.server}_*")):
                return True
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> VirtualSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class CaptureClient:
    """A JACK client whose ports the device's output is connected to: records every cycle's
    audio with the monotonic time its process callback ran and the cycle's first frame."""

    def __init__(self, server: str) -> None:
        import jack  # JACK-Client

        self.client = jack.Client(CAPTURE, servername=server, no_start_server=True)
        self.ports = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self.blocks: list[tuple[float, int, object]] = []
        self.client.set_process_callback(self._process)

    def _process(self, frames: int) -> None:
        import numpy as np

        now = time.monotonic()
        data = np.stack([p.get_array().copy() for p in self.ports])
        self.blocks.append((now, self.client.last_frame_time, data))

    def __enter__(self) -> CaptureClient:
        self.client.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.client.deactivate()
        self.client.close()

    def timeline(self, window: int = 20):
        """(times, audio): the monotonic time each captured sample was output, and the audio
        [2, n].

        A cycle's callback can only run late, never early, and a cycle the dummy driver wakes
        up late for shifts its frame clock against the monotonic clock for good (jackd is not
        real-time here and the machine is busy). So each cycle's start is the smallest
        `t - frame / SR` over it and the `window` cycles after it (later delays only add)."""
        import numpy as np

        if not self.blocks:
            return np.zeros(0), np.zeros((2, 0), np.float32)
        t = np.array([b[0] for b in self.blocks])
        f = np.array([b[1] for b in self.blocks], np.float64)
        off = t - f / SR
        ahead = np.array([off[k:k + window + 1].min() for k in range(len(off))])
        times = np.concatenate([ahead[k] + (f[k] + np.arange(b[2].shape[1])) / SR
                                for k, b in enumerate(self.blocks)])
        audio = np.concatenate([b[2] for b in self.blocks], axis=1)
        return times, audio


def drive(config_path: str) -> None:
    """Run the real main window in this process (started with `VirtualSink.env()`), play the
    scenarios of a JSON config and write what happened to its `result` path.

    Config: clip, take (mono WAV), segment [start, end], settings (ini path), sink (the raw
    file), scenarios: [{name, start, rate (1, -1, -2, ...), seconds, lanes: {key: [gain_db,
    mute, solo]}}]. Each scenario is played the way the user would (Space, or J/L presses); the
    raw file of what the device received is moved to `<sink>.<name>` after it. The result
    logs, per scenario, every frame shown and every transport position with the monotonic time,
    `elapsed` (from the key press to the stream closed) and `ran` (from the first callback).
    """
    import json

    from PySide6.QtCore import QEventLoop, QTimer

    from foley_desktop.project.model import Take
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    cfg = json.loads(Path(config_path).read_text())
    app = create_app()
    win = MainWindow(Settings(cfg["settings"]))
    win._skip_save_prompt = True
    win.resize(1200, 800)
    win.show()
    out: dict = {"available": win.playback.available, "reason": win.playback.reason,
                 "label": win.playback_label.text(), "scenarios": []}

    def wait(cond, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
        return bool(cond())

    def play(sc: dict, frames: list, positions: list, sink: Path) -> dict:
        win.stop()
        win.seek(sc["start"])
        frame = int(sc["start"] * win.doc.fps / 48000)
        wait(lambda: win.preview.shown == frame, 10)
        frames[:] = [(time.monotonic(), win.preview.shown)]  # on screen before playing
        positions[:] = [(time.monotonic(), win.transport.position)]
        started = time.monotonic()
        if sc["rate"] == 1:
            win.toggle_play()
        else:
            key = "shuttle_fwd" if sc["rate"] > 0 else "shuttle_back"
            for _ in range({1: 1, 2: 2, 4: 3, 8: 4}[abs(sc["rate"])]):
                win.actions_[key].trigger()
        rate = win.transport.rate
        # The stream opens on the playback's control thread, which on a busy machine can take
        # as long as a short scenario: the scenario's seconds count from its first callback.
        wait(lambda: win.playback.blocks > 0, 10)
        running = time.monotonic()
        loop = QEventLoop()  # not app.exec/quit: quitting the app closes its windows
        QTimer.singleShot(int(sc["seconds"] * 1000), loop.quit)
        loop.exec()
        pb = win.playback
        blocks, underruns, error, latency = pb.blocks, pb.underruns, pb.error, pb.latency
        following = win.transport.clock_source is not None
        win.stop()
        pb.wait_idle()  # the stream is closed: the device's file is complete
        now = time.monotonic()
        elapsed, ran = now - started, now - running
        moved = sink.with_name(f"{sink.name}.{sc['name']}")
        if sink.exists():
            os.replace(sink, moved)
        return {"name": sc["name"], "rate": rate, "latency": latency, "blocks": blocks,
                "underruns": underruns, "error": error, "clock_follows_audio": following,
                "elapsed": elapsed, "ran": ran, "open_s": running - started,
                "started": started, "file": str(moved),
                "frames": list(frames), "positions": list(positions)}

    try:
        if not win.playback.available:
            return
        assert win.open_path(cfg["clip"]), win.last_error
        assert wait(lambda: win.preview.view.image is not None
                    and "original" in win.playback.mixer.beds, 60), "clip did not load"
        seg = win.doc.add_segment(cfg["segment"][0], cfg["segment"][1], "clicks")
        win.doc.add_takes(seg.id, [Take(id="take1", path=Path(cfg["take"]), seed=1)])
        assert wait(lambda: bool(win.playback.mixer.clips), 30), "take did not load"
        out["fps"] = [win.doc.fps.numerator, win.doc.fps.denominator]
        frames: list = []
        positions: list = []
        win.preview.frameShown.connect(lambda f: frames.append((time.monotonic(), f)))
        win.transport.positionChanged.connect(lambda t: positions.append((time.monotonic(), t)))
        sink = Path(cfg["sink"])
        for sc in cfg["scenarios"]:
            for key, (gain_db, mute, solo) in sc["lanes"].items():
                win.timeline.mixChanged.emit(key, float(gain_db), bool(mute), bool(solo))
            # A scenario the device ran dry during (this machine is shared and can stall the
            # app for longer than the buffer) is played again: its output has gaps.
            for attempt in range(1, 4):
                rec = play(sc, frames, positions, sink)
                rec["attempts"] = attempt
                if rec["underruns"] == 0:
                    break
            out["scenarios"].append(rec)
    finally:
        Path(cfg["result"]).write_text(json.dumps(out))
        win.close()


if __name__ == "__main__":
    import sys

    drive(sys.argv[1])
