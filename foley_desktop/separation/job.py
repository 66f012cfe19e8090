"""The separation job: a media file in, dialogue.wav and background.wav (48 kHz) out.

Streams: audio is decoded in blocks (media.iter_audio), pushed through the backend's
`process_block`, and written to both WAV files as it comes, so memory stays bounded by the
block size and the backend's latency whatever the clip's length. Both files are written to
temp names and renamed at the end; a cancelled or failed job leaves nothing behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from foley_desktop.errors import FoleyError, MediaError, NoStreamError
from foley_desktop.fsutil import atomic_write, sweep_stale_temps
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.media import audio_length, iter_audio, probe
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.media.wav import wav_bytes
from foley_desktop.separation import vad
from foley_desktop.separation.base import make_separator
from foley_desktop.separation.default import analysis_channel
from foley_desktop.separation.regions import regions_from_probs

BLOCK = SAMPLE_RATE  # one second per block: small enough for prompt cancel and progress
_WAV_LIMIT = 0xFFFFFFFF


MAX_SAMPLE = 16.0   # +24 dBFS: float audio beyond this is damage, not a recording
# Share of the progress bar the backend's pre-pass (a second decode, measuring the level)
# takes: it costs about a tenth of the separation.
PRE_PASS_SHARE = 0.1


def repair(chunk: np.ndarray) -> tuple[np.ndarray, int]:
    """Repair what no recording holds: NaN/Inf, and float samples beyond +-MAX_SAMPLE (+24
    dBFS; one 1e30 sample used to overflow every backend into all-NaN stems). Returns the
    chunk and how many samples were changed."""
    bad = ~np.isfinite(chunk) | (np.abs(chunk) > MAX_SAMPLE)
    if not bad.any():
        return chunk, 0
    return (np.where(np.isfinite(chunk), np.clip(chunk, -MAX_SAMPLE, MAX_SAMPLE),
                     0.0).astype(np.float32), int(bad.sum()))


@dataclass
class SeparationResult:
    dialogue_path: Path
    background_path: Path
    speech_regions: list[tuple[int, int]] = field(default_factory=list)
    samples: int = 0
    channels: int = 0
    backend: str = ""
    latency: int = 0
    # Input samples that were NaN, infinite or beyond +-MAX_SAMPLE, set to 0 or clipped first
    # (the stems then add up to the repaired input, not the damaged one).
    repaired_samples: int = 0


class StreamingWav:
    """32-bit float WAV written block by block; sizes in the header are patched at the end.

    Float, not 24-bit PCM: a frequency-domain mask can push a stem past full scale where the
    input is clipped at it, and a PCM writer would then clip the stem and break
    dialogue + background == input. NLEs (Premiere, Resolve, Final Cut, Avid) read float WAV.

    The header is media.wav's own (so both writers agree on the format, including
    WAVE_FORMAT_EXTENSIBLE for more than two channels).
    """

    def __init__(self, fh, channels: int) -> None:
        self.fh = fh
        header = wav_bytes(np.zeros((channels, 0), np.float32), SAMPLE_RATE, "FLOAT")
        self._data_size_at = len(header) - 4
        fact = header.find(b"fact")
        self._fact_at = fact + 8 if fact >= 0 else None
        fh.write(header)
        self.header_len = len(header)
        self.frames = 0
        self.bytes = 0

    def write(self, audio: np.ndarray) -> None:
        if audio.shape[1]:
            data = np.ascontiguousarray(audio.T, dtype="<f4").tobytes()
            self.fh.write(data)
            self.frames += audio.shape[1]
            self.bytes += len(data)

    def finish(self) -> None:
        end = self.fh.tell()
        self.fh.seek(4)
        self.fh.write((end - 8).to_bytes(4, "little"))
        self.fh.seek(self._data_size_at)
        self.fh.write(self.bytes.to_bytes(4, "little"))
        if self._fact_at is not None:
            self.fh.seek(self._fact_at)
            self.fh.write(self.frames.to_bytes(4, "little"))
        self.fh.seek(end)


def separate(input_path: str | os.PathLike, out_dir: str | os.PathLike,
             backend: str = "default", progress: ProgressFn | None = None,
             cancel: CancelToken | None = None, block: int = BLOCK,
             **options) -> SeparationResult:
    """Write OUT_DIR/dialogue.wav, background.wav and speech_regions.json for a clip.

    The stems have the input's channel count, 48 kHz, exactly as many samples as the input's
    audio (media.audio_length), 32-bit float, and add up to the input to float rounding.
    """
    from foley_desktop.outpaths import check_output_dir

    # Before any work: the stems must not land on the input (`separate dialogue.wav -o .`).
    check_output_dir(out_dir, ("dialogue.wav", "background.wav", "speech_regions.json"),
                     [input_path])
    info = probe(input_path)
    if info.audio is None:
        raise NoStreamError(f"{info.path.name} has no audio stream: nothing to separate")
    total = audio_length(info)
    if total == 0:
        raise MediaError(f"{info.path.name}: the audio stream is empty")
    channels = info.audio.channels
    if total * channels * 4 + 1024 > _WAV_LIMIT:
        raise FoleyError(f"{info.path.name}: stems this long ({total / SAMPLE_RATE / 3600:.1f} h, "
                         f"{channels} channels) exceed the 4 GiB WAV limit; split the clip")
    sep = make_separator(backend, channels, **options)  # a bad backend or model fails here
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FoleyError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    sweep_stale_temps(out_dir)   # stems half-written by a run that was killed
    stage = f"separating ({backend})"
    pre = sep.pre_pass()
    # One bar for both passes, so `done` only grows: the pre-pass fills its share first.
    pre_len = int(total * PRE_PASS_SHARE) if pre is not None else 0
    meter = ProgressMeter(progress, stage, total + pre_len)
    if pre is not None:
        # The backend measures the whole clip first (the default: its level), from a second
        # decode of the file, so memory stays flat with the clip's length.
        seen = 0
        for chunk in iter_audio(input_path, block=block, cancel=cancel):
            check(cancel)
            pre.add(repair(chunk)[0])  # all that the separation pass will be fed
            seen += chunk.shape[1]
            meter.update(pre_len * min(seen, total) / total, stage="measuring the level")
        pre.done()
    dialogue_path, background_path = out_dir / "dialogue.wav", out_dir / "background.wav"
    probs: list[np.ndarray] = []
    # Backends without a VAD of their own get one here, for the speech regions.
    det = None if sep.detects_speech else vad.VoiceActivity()
    centre = analysis_channel(channels)
    with atomic_write(dialogue_path) as fd, atomic_write(background_path) as fb:
        wd, wb = StreamingWav(fd, channels), StreamingWav(fb, channels)
        skip = sep.latency  # output samples before the input began
        written = 0
        fed = 0
        repaired = 0

        def put(d: np.ndarray, b: np.ndarray) -> None:
            nonlocal skip, written
            if skip:
                cut = min(skip, d.shape[1])
                d, b, skip = d[:, cut:], b[:, cut:], skip - cut
            room = total - written
            d, b = d[:, :room], b[:, :room]
            wd.write(d)
            wb.write(b)
            written += d.shape[1]

        for chunk in iter_audio(input_path, block=block, cancel=cancel):
            check(cancel)
            chunk, bad = repair(chunk)
            repaired += bad
            put(*sep.process_block(chunk))
            probs.append(sep.speech_probability())
            if det is not None:
                probs.append(det.process(chunk[centre] if centre is not None
                                         else chunk.mean(axis=0)))
            fed += chunk.shape[1]
            meter.update(pre_len + fed, stage=stage)
        check(cancel)
        put(*sep.flush())
        probs.append(sep.speech_probability())
        if det is not None:
            probs.append(det.process(np.zeros(vad.CHUNK + vad.FILTER_DELAY, np.float32)))
        if written != total:  # a backend bug, not a user's mistake
            raise RuntimeError(f"separation wrote {written} samples, expected {total}")
        wd.finish()
        wb.finish()
        regions = regions_from_probs(np.concatenate(probs), total)
        with atomic_write(out_dir / "speech_regions.json", "w") as fr:
            json.dump({"sample_rate": SAMPLE_RATE, "samples": total,
                       "regions": [list(r) for r in regions]}, fr)
    meter.update(total + pre_len, stage="done")
    return SeparationResult(dialogue_path, background_path, regions, total, channels, backend,
                            sep.latency, repaired)
