"""Audio playback: plays the timeline's mix through sounddevice.

`Mixer` (app/mixer.py, plain numpy) mixes the lanes; `Playback` feeds it
to a sounddevice output stream and reports the sample being heard now, using the stream's DAC
time so output latency is compensated; the transport uses that as its clock at every rate.
Without an output device (or without PortAudio) `Playback.available` is False and `reason`
says why; the app runs on, silent.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time

from foley_desktop.app.mixer import LANE_KEYS, LaneMix, Mixer
from foley_desktop.media.timebase import SAMPLE_RATE

__all__ = ["LANE_KEYS", "LaneMix", "Mixer", "Playback", "output_latency_setting"]

# Output buffer latency asked of PortAudio: seconds, or "low"/"high". The picture follows the
# audio clock with the reported latency taken off, so a larger buffer costs responsiveness only
# (how soon play starts), never sync; "high" leaves room for the Python callback on a busy
# machine. FOLEY_DESKTOP_AUDIO_LATENCY overrides it (e.g. "0.25" where sound crackles).
DEFAULT_LATENCY = "high"


def output_latency_setting() -> float | str:
    value = os.environ.get("FOLEY_DESKTOP_AUDIO_LATENCY", DEFAULT_LATENCY).strip()
    if value in ("low", "high"):
        return value
    try:
        return max(0.001, float(value))
    except ValueError:
        return DEFAULT_LATENCY


def _probe_output() -> tuple[bool, str]:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        return False, f"Playback unavailable: sounddevice cannot load ({exc})"
    try:
        dev = sd.query_devices(kind="output")
    except Exception:  # noqa: BLE001 - PortAudio raises its own error types
        return False, "Playback unavailable: no audio output device found"
    if not dev or dev.get("max_output_channels", 0) < 1:
        return False, "Playback unavailable: no audio output device found"
    return True, f"Audio output: {dev.get('name', 'default device')}"


class Playback:
    """One output stream at a time, started at a position and a shuttle rate.

    The GUI thread never calls PortAudio: opening, starting, aborting and closing a stream can
    each take tens to hundreds of milliseconds (a device driver, a sound server connection),
    and draining the buffer on stop takes as long as the latency. `start`/`stop` only post a
    request; a control thread carries out the newest one (a burst of J/L presses opens one
    stream, not one per press) and exits when idle.

    The callback runs on PortAudio's thread: it renders the next block (`Mixer.render_shuttle`)
    and records an anchor: the source sample the block starts with, the rate, and the moment
    (on time.monotonic) that sample will reach the speakers, i.e. the block's DAC time
    (output latency included) carried over from the stream's clock. `position()` picks the
    newest block already audible and extrapolates inside it: the sample being heard now. The
    picture follows that, so it stays with the sound at any latency, and it holds still until
    the first sample is heard.
    """

    IDLE_EXIT_S = 5.0  # the control thread ends after this long without a request

    def __init__(self, mixer: Mixer | None = None) -> None:
        self.mixer = mixer or Mixer()
        self.available, self.reason = _probe_output()
        self._stream = None  # touched by the control thread only
        self._lock = threading.Lock()
        self._pos = 0  # next source sample the callback renders
        self._rate = 1
        self._session = 0  # which start() the callback's stream belongs to
        # Anchors of the blocks in flight: (source sample, rate, monotonic DAC time).
        self._anchors: collections.deque = collections.deque(maxlen=1024)
        # Set when the stream could not open: (sample, rate, monotonic start), so the picture
        # plays on by itself rather than wait for sound that will not come.
        self._fallback: tuple[int, int, float] | None = None
        self._latency: float | None = None
        self.blocks = 0  # callbacks run since start (tests, diagnostics)
        self.underruns = 0  # blocks the device reported it ran dry before (a glitch heard)
        self.error: str | None = None  # last exception raised inside the callback
        self._requests: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._pending = 0  # requests posted and not yet carried out
        self._idle = threading.Event()  # set while _pending is 0
        self._idle.set()

    @property
    def latency(self) -> float | None:
        """The running stream's output latency in seconds (as PortAudio reports it)."""
        return self._latency

    # ---- requests (GUI thread)
    def start(self, position: int, rate: int = 1) -> bool:
        """Start output at `position` playing at `rate` (1 = normal, negative = backwards,
        2/4/8 = shuttle); False when playback is unavailable. Returns at once: sound begins
        once the control thread has the stream running (the clock waits for it)."""
        if not self.available or rate == 0:
            return False
        with self._lock:
            self._session += 1
            self._pos, self._rate = int(position), int(rate)
            self._anchors.clear()
            self._fallback = None
            self.blocks, self.underruns, self.error = 0, 0, None
            session = self._session
        self._post(("start", session))
        return True

    def stop(self) -> None:
        """Silence now (the buffered audio is dropped, not played out) and close the stream."""
        with self._lock:
            self._session += 1
            self._anchors.clear()
            self._fallback = None
            idle = self._stream is None and self._pending == 0
        if not idle:
            self._post(("stop", self._session))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every request has been carried out (tests, shutdown)."""
        return self._idle.wait(timeout)

    def _post(self, request: tuple) -> None:
        with self._lock:
            self._pending += 1
            self._idle.clear()
            self._requests.put(request)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._control, name="audio-control",
                                                daemon=True)
                self._worker.start()

    # ---- control thread
    def _control(self) -> None:
        while True:
            try:
                request = self._requests.get(timeout=self.IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._requests.empty():
                        self._worker = None
                        return
                continue
            done = 1
            while True:  # only the newest request matters
                try:
                    request = self._requests.get_nowait()
                    done += 1
                except queue.Empty:
                    break
            self._close()
            if request[0] == "start":
                with self._lock:
                    current = request[1] == self._session
                if current:
                    self._open(request[1])
            with self._lock:
                self._pending -= done
                if self._pending == 0:
                    self._idle.set()

    def _open(self, session: int) -> None:
        import sounddevice as sd

        try:
            stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32",
                                     latency=output_latency_setting(), callback=self._callback)
            self._latency = float(stream.latency)
            self._stream = stream
            stream.start()
        except Exception as exc:  # noqa: BLE001 - a device that vanished or is busy
            self.available, self.reason = False, f"Playback unavailable: {exc}"
            self._close()
            with self._lock:
                if session == self._session:
                    self._fallback = (self._pos, self._rate, time.monotonic())

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - a device that vanished: nothing to close
                pass

    # ---- audio thread
    def _callback(self, outdata, frames, time_info, status) -> None:
        # Where the stream's clock stands on the monotonic clock (they differ by host API).
        to_mono = time.monotonic() - time_info.currentTime
        with self._lock:
            start, rate, session = self._pos, self._rate, self._session
        try:
            block, nxt = self.mixer.render_shuttle(start, frames, rate)
            outdata[:] = block.T
        except Exception as exc:  # noqa: BLE001 - never kill the audio thread; play silence
            outdata.fill(0)
            self.error = f"{type(exc).__name__}: {exc}"
            nxt = start + rate * frames
        with self._lock:
            if session != self._session:
                return  # a stop or a new start came in meanwhile: this stream is going away
            self._pos = nxt
            self._anchors.append((start, rate, time_info.outputBufferDacTime + to_mono))
            self.blocks += 1
            if status.output_underflow:
                self.underruns += 1

    # ---- clock (GUI thread)
    def position(self) -> int | None:
        """The sample reaching the speakers now, or None before the first one has."""
        now = time.monotonic()
        with self._lock:
            if self._fallback is not None:
                sample, rate, since = self._fallback
                return int(sample + (now - since) * SAMPLE_RATE * rate)
            heard = None
            for anchor in reversed(self._anchors):
                if anchor[2] <= now:
                    heard = anchor
                    break
        if heard is None:
            return None
        sample, rate, dac = heard
        return int(sample + (now - dac) * SAMPLE_RATE * rate)
