"""Visual streams: frames at the stream's fps, letterboxed, normalised, encoded per window.

The media layer decodes (sample-and-hold on a regular grid, letterbox); this module turns a
window of the segment into the feature tokens its denoiser input expects. Where a window reaches
past the end of the clip the last picture is held; in text-only mode the stream's learned
unconditional features are used.

Layouts:
- "TCHW": the encoder takes all frames [1, T, 3, H, W] and gives one token per frame (times
  `features_per_frame`).
- "NTCHW-windows" (per-clip video encoders such as Synchformer): the window's T frames are cut
  into clips of `clip_frames` starting every `clip_stride` frames, N = (T - clip_frames) //
  clip_stride + 1 of them (at least one; a short window holds its last picture to fill one clip),
  fed as [N, clip_frames, 3, H, W] (in chunks when the graph fixes N) and the outputs
  [N, K, D] are concatenated in clip order to [1, N * K, D]. K = features_per_frame *
  clip_stride. So a window yields N * K tokens, the count HunyuanVideo-Foley's reference gives
  its denoiser (e.g. 45 clips, 360 tokens for 15 s at 25 fps), not fps * duration.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from foley_desktop.engine.package import ModelPackage, StreamSpec
from foley_desktop.engine.session import Runner
from foley_desktop.errors import ModelPackageError
from foley_desktop.jobs import CancelToken
from foley_desktop.media.timebase import SAMPLE_RATE as SR

WINDOWS = "NTCHW-windows"


def clip_geometry(package: ModelPackage, stream: StreamSpec) -> tuple[int, int]:
    """(clip_frames, clip_stride) of a windowed stream, from its manifest entry."""
    raw = package.manifest.get("streams", {}).get(stream.name, {})
    try:
        frames, stride = int(raw["clip_frames"]), int(raw["clip_stride"])
    except (KeyError, TypeError, ValueError):
        raise ModelPackageError(f"{package.path / 'manifest.json'}: streams.{stream.name} with "
                                f"layout \"{WINDOWS}\" needs integer clip_frames and clip_stride") from None
    if not 0 < stride <= frames:
        raise ModelPackageError(f"{package.path / 'manifest.json'}: streams.{stream.name}: need "
                                f"0 < clip_stride <= clip_frames")
    return frames, stride


def frames_for(package: ModelPackage, stream: StreamSpec, latent_frames: int) -> int:
    """Pictures at the stream's fps covering `latent_frames`."""
    return math.ceil(Fraction(latent_frames) / package.latent_rate * stream.fps)


def clips_for(package: ModelPackage, stream: StreamSpec, latent_frames: int) -> int:
    clip, stride = clip_geometry(package, stream)
    return max(1, (frames_for(package, stream, latent_frames) - clip) // stride + 1)


def tokens_for(package: ModelPackage, stream: StreamSpec, latent_frames: int) -> int:
    """Feature tokens for a window of `latent_frames` (whole per the manifest's validation)."""
    if stream.layout == WINDOWS:
        _, stride = clip_geometry(package, stream)
        return clips_for(package, stream, latent_frames) * stride * stream.features_per_frame
    n = Fraction(latent_frames) / package.latent_rate * stream.feature_rate
    return math.ceil(n)


def unconditional(package: ModelPackage, stream: StreamSpec, tokens: int) -> np.ndarray:
    """The learned empty features tiled to [1, tokens, D]."""
    u = package.array(stream.unconditional)
    if u.ndim == 1:
        u = u[None, :]
    if u.ndim != 2:
        raise ModelPackageError(f"{package.path / stream.unconditional}: expected [D] or [N, D], "
                                f"got shape {u.shape}")
    reps = math.ceil(tokens / u.shape[0])
    return np.tile(u, (reps, 1))[:tokens][None].astype(np.float32)


def normalise(frames: np.ndarray, stream: StreamSpec) -> np.ndarray:
    """uint8 [T, H, W, 3] RGB -> float32 [1, T, 3, H, W], x = (rgb/255 - mean) / std."""
    x: np.ndarray = frames.astype(np.float32) / 255.0
    x = (x - np.asarray(stream.mean, np.float32)) / np.asarray(stream.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)[None])


def read_frames(video: Path, stream: StreamSpec, start: int, end: int, clip_end: int,
                count: int, cancel: CancelToken | None = None) -> np.ndarray:
    """`count` frames from `start` (48 kHz samples) at the stream's fps; held past the clip's end."""
    from foley_desktop.media import read_video_frames  # lazy: the media layer decodes with PyAV

    stop = min(end, clip_end)
    frames = None
    if stop > start:
        frames = read_video_frames(video, stream.fps, size=(stream.width, stream.height),
                                   start=start, end=stop, letterbox=True, cancel=cancel)
    if frames is None or len(frames) == 0:
        frames = np.zeros((1, stream.height, stream.width, 3), np.uint8)
        if start > 0:
            frames = read_video_frames(video, stream.fps, size=(stream.width, stream.height),
                                       start=max(0, clip_end - SR // 10), end=clip_end,
                                       letterbox=True)[-1:]
    if len(frames) < count:
        frames = np.concatenate([frames, np.repeat(frames[-1:], count - len(frames), axis=0)])
    return frames[:count]


class VisualStream:
    """Encodes one stream's frames for windows of the segment."""

    def __init__(self, package: ModelPackage, stream: StreamSpec, encoder: Runner | None):
        self.package = package
        self.stream = stream
        self.encoder = encoder

    def window(self, video: Path | None, start: int, latent_frames: int, clip_end: int,
               cancel: CancelToken | None = None) -> np.ndarray:
        """Features [1, V, D] for the window of `latent_frames` starting at `start` samples."""
        tokens = tokens_for(self.package, self.stream, latent_frames)
        encoder = self.encoder
        if video is None or encoder is None:
            return unconditional(self.package, self.stream, tokens)
        duration = round(Fraction(latent_frames) / self.package.latent_rate * SR)
        if self.stream.layout == WINDOWS:
            clip, stride = clip_geometry(self.package, self.stream)
            count = max(clip, frames_for(self.package, self.stream, latent_frames))
            frames = read_frames(video, self.stream, start, start + duration, clip_end, count, cancel)
            feats = self._encode_clips(encoder, normalise(frames, self.stream)[0], clip, stride,
                                       clips_for(self.package, self.stream, latent_frames), cancel)
        else:
            count = math.ceil(Fraction(tokens, self.stream.features_per_frame))
            frames = read_frames(video, self.stream, start, start + duration, clip_end, count, cancel)
            (feats,) = encoder.run({self._input: normalise(frames, self.stream)}, cancel)[:1]
        feats = np.asarray(feats, np.float32)
        if feats.ndim != 3 or feats.shape[1] < tokens:
            raise ModelPackageError(f"{encoder.path}: produced {feats.shape} for {count} "
                                    f"frames; the manifest implies [1, {tokens}, D]")
        return feats[:, :tokens]

    def _encode_clips(self, encoder: Runner, frames: np.ndarray, clip: int, stride: int, n: int,
                      cancel: CancelToken | None) -> np.ndarray:
        """frames [T, 3, H, W] -> [1, n * K, D] from clips [n, clip, 3, H, W], in chunks of the
        graph's fixed clip count (or of 8 clips when it is symbolic, to bound memory)."""
        clips = np.stack([frames[k * stride: k * stride + clip] for k in range(n)])
        dim0 = self.package.graphs[self.stream.graph].inputs[self._input][0]
        chunk = dim0 if isinstance(dim0, int) else 8
        outs = []
        for i in range(0, n, chunk):
            part = clips[i: i + chunk]
            real = len(part)
            if isinstance(dim0, int) and real < chunk:   # fixed batch: pad with the last clip
                part = np.concatenate([part, np.repeat(part[-1:], chunk - real, axis=0)])
            (out,) = encoder.run({self._input: np.ascontiguousarray(part)}, cancel)[:1]
            out = np.asarray(out, np.float32)
            if out.ndim != 3 or out.shape[0] != len(part):
                raise ModelPackageError(f"{encoder.path}: produced {out.shape} for "
                                        f"{len(part)} clips; expected [clips, tokens, D]")
            outs.append(out[:real])
        feats = np.concatenate(outs)
        return feats.reshape(1, -1, feats.shape[-1])

    @property
    def _input(self) -> str:
        return next(iter(self.package.graphs[self.stream.graph].inputs))
