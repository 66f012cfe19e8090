"""Demucs backend: a user's Demucs model, exported to ONNX, with its vocals stem as dialogue.

The .onnx comes from `scripts/export_demucs_onnx.py CHECKPOINT OUT.onnx` (a local checkpoint;
nothing is downloaded): waveform Demucs, or HTDemucs with its STFT/iSTFT computed here in
numpy (`htdemucs_spec` / `htdemucs_ispec`) around the graph. The graph separates one
fixed-length segment at the model's sample rate; here segments overlap by half and are
cross-faded with Hann weights that sum to one, so the stream has a fixed latency of one
segment. Each segment is resampled 48 kHz -> model rate and back on its own (soxr), which
the overlap hides at the seams.

Dialogue is the `vocals` source (or the one named by `source`); background is input minus
dialogue, so the stems add up to the input, as with the default backend. Channels follow the
default backend's rule: sources with a centre channel are separated on the centre alone;
otherwise a mono source is duplicated to the model's channels and the vocals averaged back,
and a stereo source goes through as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soxr

from foley_desktop.errors import FoleyError, ModelPackageError
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.separation.base import Separator, register
from foley_desktop.separation.default import analysis_channel


class DemucsSeparator(Separator):
    name = "demucs"

    def __init__(self, channels: int, model: str | Path | None = None,
                 source: str = "vocals") -> None:
        super().__init__(channels)
        if model is None:
            raise FoleyError("the demucs backend needs --model PATH.onnx (export a Demucs "
                             "checkpoint with scripts/export_demucs_onnx.py)")
        path = Path(model)
        if not path.is_file():
            raise ModelPackageError(f"no such Demucs model: {path}")
        if path.suffix != ".onnx":
            raise ModelPackageError(f"{path.name}: convert the checkpoint to ONNX first: "
                                    "python scripts/export_demucs_onnx.py CHECKPOINT OUT.onnx")
        import onnxruntime as ort

        try:
            self._sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise ModelPackageError(f"{path.name}: not a usable ONNX model ({exc})") from exc
        meta = self._sess.get_modelmeta().custom_metadata_map
        if meta.get("foley.kind") != "demucs":
            raise ModelPackageError(f"{path.name}: not exported by scripts/export_demucs_onnx.py")
        self.model_sr = int(meta["samplerate"])
        self.model_channels = int(meta["audio_channels"])
        self.segment = int(meta["segment"])
        sources = json.loads(meta["sources"])
        if source not in sources:
            raise ModelPackageError(f"{path.name} has no {source!r} source (has {sources})")
        self.source_index = sources.index(source)
        self.hybrid = meta.get("variant") == "htdemucs"
        if self.hybrid:
            self.nfft, self.spec_hop = int(meta["nfft"]), int(meta["hop"])
        # Half a segment at 48 kHz, kept even so the Hann cross-fade is exact.
        self.hop = int(self.segment * SAMPLE_RATE / self.model_sr) // 4 * 2
        self.win = 2 * self.hop
        self.latency = self.win
        self._w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.win) / self.win)).astype(
            np.float32)
        self.centre = analysis_channel(channels)
        self._buf = np.zeros((channels, self.hop), np.float32)  # segment k starts at (k-1)hop
        self._ola = np.zeros((channels, self.win), np.float32)
        self._out: list[np.ndarray] = [np.zeros((channels, self.latency - self.hop), np.float32)]
        self._out_len = self.latency - self.hop
        self._delay = np.zeros((channels, self.latency), np.float32)

    def _vocals(self, seg: np.ndarray) -> np.ndarray:
        """Dialogue of one 48 kHz segment [channels, win], same shape."""
        if self.centre is not None:
            src = seg[self.centre:self.centre + 1]
        else:
            src = seg
        # To the model's channel count.
        if src.shape[0] != self.model_channels:
            src = np.repeat(src.mean(axis=0, keepdims=True), self.model_channels, axis=0)
        x = soxr.resample(src.T, SAMPLE_RATE, self.model_sr).T
        x = _fit(x, self.segment)
        y = self.run_model(x.astype(np.float32))[self.source_index]
        v = soxr.resample(y.T, self.model_sr, SAMPLE_RATE).T
        v = _fit(v, self.win).astype(np.float32)
        out = np.zeros_like(seg)
        if self.centre is not None:
            out[self.centre] = v.mean(axis=0)
        elif self.channels == self.model_channels:
            out[:] = v
        else:
            out[:] = v.mean(axis=0, keepdims=True)
        return out

    def run_model(self, x: np.ndarray) -> np.ndarray:
        """One segment [model_channels, segment] at the model rate -> [sources, channels, n]."""
        if not self.hybrid:
            return self._sess.run(None, {"mix": x[None]})[0][0]
        spec = htdemucs_spec(x, self.nfft, self.spec_hop)[None]
        time_out, spec_out = self._sess.run(None, {"mix": x[None], "spec": spec})
        return time_out[0] + htdemucs_ispec(spec_out[0], self.spec_hop, x.shape[-1])

    def process_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        block = np.atleast_2d(np.asarray(block, np.float32))
        n = block.shape[1]
        self._buf = np.concatenate([self._buf, block], axis=1)
        while self._buf.shape[1] >= self.win:
            seg = self._buf[:, :self.win]
            self._ola += self._vocals(seg) * self._w
            self._out.append(self._ola[:, :self.hop].copy())
            self._out_len += self.hop
            self._ola = np.concatenate([self._ola[:, self.hop:],
                                        np.zeros((self.channels, self.hop), np.float32)], axis=1)
            self._buf = self._buf[:, self.hop:]
        d = np.concatenate(self._out, axis=1)
        out, rest = d[:, :n], d[:, n:]
        self._out, self._out_len = [rest], rest.shape[1]
        # The input, delayed by the latency like the dialogue, gives the background.
        self._delay = np.concatenate([self._delay, block], axis=1)
        xin, self._delay = self._delay[:, :n], self._delay[:, n:]
        return out, xin - out


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    if a.shape[1] >= n:
        return a[:, :n]
    return np.pad(a, ((0, 0), (0, n - a.shape[1])))


@register("demucs", "a Demucs model you supply (--model PATH.onnx from "
          "scripts/export_demucs_onnx.py); its vocals stem is the dialogue")
def _make_demucs(channels: int, **options) -> Separator:
    return DemucsSeparator(channels, **options)


# -- HTDemucs spectrogram, outside the graph ---------------------------------------------
# HTDemucs (v4) feeds its frequency branch an STFT that ONNX cannot express with complex
# numbers; the exporter leaves it out, and these two functions compute it in numpy with the
# same conventions as the model: Hann window of nfft, hop nfft/4, 'normalized' scaling by
# 1/sqrt(nfft), centred frames with reflect padding, plus the model's own extra padding of
# 3/2 hop so that frames line up with the time branch (the last frequency bin is dropped).

def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def htdemucs_spec(x: np.ndarray, nfft: int, hop: int) -> np.ndarray:
    """[channels, length] -> [2 * channels, nfft / 2, ceil(length / hop)] real/imag channels."""
    length = x.shape[-1]
    le = -(-length // hop)
    pad = hop // 2 * 3
    x = np.pad(x, ((0, 0), (pad, pad + le * hop - length)), mode="reflect")
    x = np.pad(x, ((0, 0), (nfft // 2, nfft // 2)), mode="reflect")
    n_frames = 1 + (x.shape[-1] - nfft) // hop
    idx = np.arange(n_frames)[:, None] * hop + np.arange(nfft)[None, :]
    z = np.fft.rfft(x[:, idx] * _hann(nfft), axis=-1) / np.sqrt(nfft)  # [C, frames, bins]
    z = z[:, 2:2 + le, :-1].transpose(0, 2, 1)  # [C, bins - 1, le]
    out = np.stack([z.real, z.imag], axis=1)  # [C, 2, F, T]
    return out.reshape(-1, *out.shape[2:]).astype(np.float32)


def htdemucs_ispec(spec: np.ndarray, hop: int, length: int) -> np.ndarray:
    """[..., 2 * channels, F, T] real/imag channels -> [..., channels, length] waveforms."""
    *lead, c2, f, t = spec.shape
    z = spec.reshape(*lead, c2 // 2, 2, f, t)
    z = z[..., 0, :, :] + 1j * z[..., 1, :, :]  # [..., C, F, T]
    z = np.concatenate([z, np.zeros((*z.shape[:-2], 1, t))], axis=-2)  # the dropped bin
    z = np.pad(z, [(0, 0)] * (z.ndim - 1) + [(2, 2)])
    nfft = 2 * (f + 1) - 2
    pad = hop // 2 * 3
    le = hop * -(-length // hop) + 2 * pad
    frames = np.fft.irfft(np.moveaxis(z, -1, -2), n=nfft, axis=-1) * np.sqrt(nfft)
    w = _hann(nfft)
    n_frames = frames.shape[-2]
    total = nfft + hop * (n_frames - 1)
    y = np.zeros((*frames.shape[:-2], total))
    env = np.zeros(total)
    for i in range(n_frames):
        y[..., i * hop:i * hop + nfft] += frames[..., i, :] * w
        env[i * hop:i * hop + nfft] += w * w
    y = y / np.where(env > 1e-11, env, 1.0)
    y = y[..., nfft // 2:]
    y = y[..., :le] if y.shape[-1] >= le else np.pad(
        y, [(0, 0)] * (y.ndim - 1) + [(0, le - y.shape[-1])])
    return y[..., pad:pad + length].astype(np.float32)
