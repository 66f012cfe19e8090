"""Visual streams: frames at the stream's fps, letterboxed, normalised, encoded per window.

The media layer decodes (sample-and-hold on a regular grid, letterbox); this module turns a
window of the segment into the feature tokens its denoiser input expects. Where a window reaches
past the end of the clip the last picture is held; in text-only mode the stream's learned
unconditional features are used.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from foley_desktop.engine.package import ModelPackage, StreamSpec
from foley_desktop.engine.session import GraphSession
from foley_desktop.errors import ModelPackageError
from foley_desktop.jobs import CancelToken

SR = 48000


def tokens_for(package: ModelPackage, stream: StreamSpec, latent_frames: int) -> int:
    """Feature tokens covering `latent_frames` (validated to be whole in the manifest)."""
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
    x = frames.astype(np.float32) / 255.0
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

    def __init__(self, package: ModelPackage, stream: StreamSpec, encoder: GraphSession | None):
        self.package = package
        self.stream = stream
        self.encoder = encoder

    def window(self, video: Path | None, start: int, latent_frames: int, clip_end: int,
               cancel: CancelToken | None = None) -> np.ndarray:
        """Features [1, V, D] for the window of `latent_frames` starting at `start` samples."""
        tokens = tokens_for(self.package, self.stream, latent_frames)
        if video is None or self.encoder is None:
            return unconditional(self.package, self.stream, tokens)
        count = math.ceil(Fraction(tokens, self.stream.features_per_frame))
        duration = round(Fraction(latent_frames) / self.package.latent_rate * SR)
        frames = read_frames(video, self.stream, start, start + duration, clip_end, count, cancel)
        (feats,) = self.encoder.run({self._input: normalise(frames, self.stream)}, cancel)[:1]
        feats = np.asarray(feats, np.float32)
        if feats.ndim != 3 or feats.shape[1] < tokens:
            raise ModelPackageError(f"{self.encoder.path}: produced {feats.shape} for {count} "
                                    f"frames; the manifest implies [1, {tokens}, D]")
        return feats[:, :tokens]

    @property
    def _input(self) -> str:
        return next(iter(self.package.graphs[self.stream.graph].inputs))
