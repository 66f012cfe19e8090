"""Audio playback: mixes the timeline's lanes and plays them through sounddevice.

`Mixer` is plain numpy: lanes (original audio, dialogue and background stems, the Foley lane's
active takes placed at their segments' starts) with per-lane gain, mute and solo. `Playback`
feeds it to a sounddevice output stream and reports the sample being heard now, using the
stream's DAC time so output latency is compensated; the transport uses that as its clock.
Without an output device (or without PortAudio) `Playback.available` is False and `reason`
says why; the app runs on, silent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE

LANE_KEYS = ("original", "dialogue", "background", "foley")


@dataclass
class LaneMix:
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False

    @property
    def gain(self) -> float:
        return float(10 ** (self.gain_db / 20))


@dataclass
class Mixer:
    """Sources per lane: whole-lane arrays [ch, n] or clips (start, mono array) for Foley."""

    lanes: dict[str, LaneMix] = field(default_factory=lambda: {k: LaneMix() for k in LANE_KEYS})
    beds: dict[str, np.ndarray] = field(default_factory=dict)  # key -> float32 [ch, n]
    clips: list[tuple[int, np.ndarray]] = field(default_factory=list)  # Foley: (start, mono)

    def audible(self, key: str) -> bool:
        soloed = [k for k, m in self.lanes.items() if m.solo]
        lane = self.lanes[key]
        return (key in soloed) if soloed else not lane.mute

    def render(self, start: int, n: int) -> np.ndarray:
        """Stereo float32 [2, n] for [start, start + n)."""
        out = np.zeros((2, n), np.float32)
        if n <= 0:
            return out
        for key, bed in self.beds.items():
            if not self.audible(key):
                continue
            a, b = max(0, start), min(bed.shape[1], start + n)
            if b <= a:
                continue
            part = bed[:, a:b] * self.lanes[key].gain
            if part.shape[0] > 2:  # surround: fold down to the front pair's average
                part = part.mean(axis=0, keepdims=True)
            out[:, a - start:b - start] += part  # mono broadcasts to both channels
        if self.audible("foley"):
            g = self.lanes["foley"].gain
            for cs, audio in self.clips:
                a, b = max(start, cs), min(start + n, cs + len(audio))
                if b > a:
                    out[:, a - start:b - start] += audio[a - cs:b - cs] * g
        np.clip(out, -1.0, 1.0, out=out)
        return out


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
    def __init__(self, mixer: Mixer | None = None) -> None:
        self.mixer = mixer or Mixer()
        self.available, self.reason = _probe_output()
        self._stream = None
        self._lock = threading.Lock()
        self._pos = 0  # next sample the callback renders
        self._anchor: tuple[int, float] | None = None  # (sample, DAC time) of the last block

    def start(self, position: int) -> bool:
        """Start output at `position`; False when playback is unavailable."""
        if not self.available:
            return False
        import sounddevice as sd

        self.stop()
        with self._lock:
            self._pos = int(position)
            self._anchor = None
        try:
            self._stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32",
                                           latency="low", callback=self._callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - a device that vanished or is busy
            self.available, self.reason = False, f"Playback unavailable: {exc}"
            self._stream = None
            return False
        return True

    def _callback(self, outdata, frames, time_info, status) -> None:
        with self._lock:
            start = self._pos
            self._pos += frames
            self._anchor = (start, time_info.outputBufferDacTime)
        outdata[:] = self.mixer.render(start, frames).T

    def position(self) -> int | None:
        """The sample reaching the speakers now, or None before the first block."""
        stream = self._stream
        with self._lock:
            anchor = self._anchor
        if stream is None or anchor is None:
            return None
        sample, dac = anchor
        return int(sample + (stream.time - dac) * SAMPLE_RATE)

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
