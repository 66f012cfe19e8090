"""Evaluation of separation backends on mixtures of real speech with real effects and music.

Speech: the LibriVox sentences of pocketsphinx-testdata and the CMU ARCTIC sample shipped in
the pysptk sdist. Backgrounds: recorded effects (minetest-data, scratch) and music loops
(sonic-pi-samples). Neither backend was trained on any of them (RNNoise and Silero VAD come
trained by their authors; nothing here is fitted to these files, the default backend's few
settings were chosen on a separate tuning subset, see docs/separation.md).

Each mixture is one sentence with 0.75 s of silence before and after (so pauses are scored),
plus a background looped to the same length and scaled to the speech-to-background ratio.
Metrics per mixture:
- SI-SDR improvement of the dialogue stem against the clean speech and of the background stem
  against the clean background (dB, higher is better);
- speech leakage: the share of the clean speech found in the background stem, the squared
  projection coefficient <b, s>^2 / |s|^4 in dB (lower is better);
- pause residual: energy of the dialogue stem in 20 ms frames where the clean speech is
  silent (60 dB below its loudest frame), relative to the mixture's energy there (dB, lower
  is better: this is where musical noise would be heard);
- real-time factor: processing time / audio duration, wall clock and CPU time of this process
  (the CPU figure is the one that holds on a shared machine).
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from foley_desktop.errors import MediaError
from foley_desktop.media import read_audio
from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.separation.base import make_separator, separate_array

PAD = 36000  # 0.75 s of silence around each sentence
SNRS = (-5, 0, 5)

SPEECH_GLOBS = ("usr/share/pocketsphinx/test/data/librivox/*.wav",)
BACKGROUNDS = (
    # recorded effects
    "usr/share/games/minetest/games/minetest_game/mods/fire/sounds/fire_fire.*.ogg",
    "usr/share/games/minetest/games/minetest_game/mods/default/sounds/default_gravel_footstep.1.ogg",
    "usr/share/games/minetest/games/minetest_game/mods/doors/sounds/doors_door_open.ogg",
    "usr/share/scratch/Media/Sounds/Effects/WaterRunning.*",
    "usr/share/scratch/Media/Sounds/Human/Footsteps-1.wav",
    "usr/share/scratch/Media/Sounds/Effects/CarPassing.*",
    # music
    "usr/share/sonic-pi/samples/loop_amen.flac",
    "usr/share/sonic-pi/samples/loop_tabla.flac",
    "usr/share/sonic-pi/samples/ambi_piano.flac",
    "usr/share/sonic-pi/samples/guit_em9.flac",
)


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    est = est - est.mean()
    ref = ref - ref.mean()
    alpha = np.dot(est, ref) / max(np.dot(ref, ref), 1e-20)
    target = alpha * ref
    err = est - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(err, err), 1e-20)))


def leakage_db(background: np.ndarray, speech: np.ndarray) -> float:
    coef = np.dot(background, speech) / max(np.dot(speech, speech), 1e-20)
    return float(10 * np.log10(max(coef * coef, 1e-12)))


def pause_residual_db(dialogue: np.ndarray, speech: np.ndarray, mixture: np.ndarray,
                      frame: int = 960, skip_frames: int = 0) -> float:
    """Energy of the dialogue stem in the 20 ms frames where the clean speech is 60 dB below
    its loudest frame, against the mixture's there (dB). `skip_frames` > 0 leaves out the
    quiet frames that many frames or fewer from a frame with speech: a diagnostic that tells
    background let through right at word edges (within a frame of a word) from background
    let through across a pause."""
    n = len(speech) // frame * frame
    e_s = (speech[:n].reshape(-1, frame) ** 2).sum(axis=1)
    quiet = e_s < e_s.max() * 1e-6
    if skip_frames:
        words = np.flatnonzero(~quiet)
        frames = np.arange(len(quiet))
        quiet &= np.abs(frames[:, None] - words[None, :]).min(axis=1) > skip_frames
    if not quiet.any():
        return float("nan")
    e_d = (dialogue[:n].reshape(-1, frame) ** 2).sum(axis=1)[quiet].sum()
    e_x = (mixture[:n].reshape(-1, frame) ** 2).sum(axis=1)[quiet].sum()
    return float(10 * np.log10(max(e_d, 1e-20) / max(e_x, 1e-20)))


def trimmed(x: np.ndarray, below_db: float = 40.0, hop: int = 480) -> np.ndarray:
    """`x` cut to the span from its first to its last 10 ms frame within `below_db` of its
    loudest: a line whose recorded silence is gone, so the silence put around it for the
    evaluation touches the words (as the warzone2100 lines come: cut right at the voice)."""
    f = x[:len(x) // hop * hop].reshape(-1, hop)
    e = (f ** 2).mean(axis=1)
    on = np.flatnonzero(e > e.max() * 10 ** (-below_db / 10))
    return x[on[0] * hop:(on[-1] + 1) * hop]


def dialogue_scores(backends, speech: np.ndarray, mixture: np.ndarray,
                    ) -> dict[str, tuple[float, float]]:
    """Separate one mono mixture with each backend: {name: (dialogue SI-SDRi, pause residual
    dB)}. Also checks that each backend's stems add up to the mixture."""
    out = {}
    for name in backends:
        d, b = separate_array(make_separator(name, 1), mixture[None])
        if not np.allclose(d + b, mixture[None], rtol=0, atol=1e-6):
            raise AssertionError(f"{name}: the stems do not add up to the input")
        out[name] = (si_sdr(d[0], speech) - si_sdr(mixture, speech),
                     pause_residual_db(d[0], speech, mixture))
    return out


@dataclass
class Mixture:
    name: str
    snr_db: float
    speech: np.ndarray
    background: np.ndarray

    @property
    def mix(self) -> np.ndarray:
        return self.speech + self.background


def find_speech(media_root: Path, extra: list[Path] = ()) -> list[Path]:
    files = [Path(p) for g in SPEECH_GLOBS for p in sorted(glob.glob(str(media_root / g)))]
    return files + [Path(p) for p in extra if Path(p).is_file()]


def find_backgrounds(media_root: Path) -> list[Path]:
    out = []
    for g in BACKGROUNDS:
        hits = sorted(glob.glob(str(media_root / g)))
        if hits:
            out.append(Path(hits[0]))
    return out


def make_mixtures(speech_files: list[Path], background_files: list[Path],
                  snrs=SNRS) -> list[Mixture]:
    if not speech_files or not background_files:
        raise MediaError("no evaluation media found: run scripts/fetch_test_media.sh")
    return make_mixtures_arrays([(p.stem, read_audio(p, mono=True)[0]) for p in speech_files],
                                background_files, snrs)


# Not backends: masks computed from the clean sources, to show how far a time-frequency mask on
# the mask backends' STFT can go on these mixtures at all.
ORACLES = ("oracle-irm", "oracle-psm")


def oracle_dialogue(kind: str, speech: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The dialogue an ideal mask gives on the default backend's STFT (960-sample sqrt-Hann
    window, hop 480): `oracle-irm` the ideal ratio mask |S| / (|S| + |B|), `oracle-psm` the
    phase-sensitive mask Re(S X*) / |X|^2 clipped to [0, 1] (the best real mask in [0, 1] for
    the squared error). Both need the answer, so they are a ceiling, not a method."""
    from foley_desktop.separation.default import _WINDOW, HOP, WIN

    n = len(speech)
    frames = -(-n // HOP) + 1
    w = _WINDOW.astype(np.float64)

    def stft(x):
        xp = np.zeros((frames + 1) * HOP)
        xp[HOP:HOP + n] = x
        idx = np.arange(frames)[:, None] * HOP + np.arange(WIN)[None]
        return np.fft.rfft(xp[idx] * w, axis=-1)

    S, B = stft(speech), stft(background)
    X = S + B
    if kind == "oracle-irm":
        G = np.abs(S) / (np.abs(S) + np.abs(B) + 1e-12)
    elif kind == "oracle-psm":
        G = np.clip(np.real(S * X.conj()) / (np.abs(X) ** 2 + 1e-12), 0.0, 1.0)
    else:
        raise ValueError(kind)
    y = np.fft.irfft(X * G, n=WIN, axis=-1) * w
    out = np.zeros((frames + 1) * HOP)
    for i in range(frames):  # sqrt-Hann at 50 %: analysis x synthesis windows sum to one
        out[i * HOP:i * HOP + WIN] += y[i]
    return out[HOP:HOP + n].astype(np.float32)


HIGH_BAND_HZ = 8000.0


def first_second_sisdri(dialogue: np.ndarray, speech: np.ndarray, mixture: np.ndarray,
                        start: int = PAD, length: int = SR) -> float:
    """Dialogue SI-SDRi over the first second of speech (from `start`, where the evaluation
    mixtures' sentences begin): where a causal level front end has not yet settled."""
    sl = slice(start, start + length)
    return si_sdr(dialogue[sl], speech[sl]) - si_sdr(mixture[sl], speech[sl])


def highband_scores(dialogue: np.ndarray, speech: np.ndarray) -> dict[str, float]:
    """How much of the speech above 8 kHz the dialogue stem keeps: SI-SDR of the two signals
    high-passed at 8 kHz (FFT brick wall) and the stem's energy there against the clean
    speech's (dB). NaN when the clean speech has no content above 8 kHz (16 kHz recordings)."""
    S = np.fft.rfft(speech)
    f = np.fft.rfftfreq(len(speech), 1 / SR)
    hi = f >= HIGH_BAND_HZ
    e_hi = float(np.sum(np.abs(S[hi]) ** 2))
    if e_hi < 1e-5 * float(np.sum(np.abs(S) ** 2)):
        return {"hb_sisdr": float("nan"), "hb_ratio": float("nan")}
    D = np.fft.rfft(dialogue)
    s_hi = np.fft.irfft(np.where(hi, S, 0), n=len(speech))
    d_hi = np.fft.irfft(np.where(hi, D, 0), n=len(speech))
    ratio = float(np.sum(np.abs(D[hi]) ** 2)) / e_hi
    return {"hb_sisdr": si_sdr(d_hi, s_hi), "hb_ratio": float(10 * np.log10(max(ratio, 1e-12)))}


def _corpus_lines(split: str, n: int, min_s: float, max_s: float,
                  what: str) -> list[tuple[str, np.ndarray]]:
    """`n` lines of corpus.py's `split`, 48 kHz mono, peak 0.5, chosen by a fixed stride
    through the uid-sorted list among those min_s-max_s long and not clipped."""
    from foley_desktop.separation import corpus

    utts = sorted((u for u in corpus.list_utterances() if u.split == split),
                  key=lambda u: u.uid)
    if not utts:
        raise MediaError(f"no {what}: run scripts/fetch_speech_corpus.py")
    out = []
    for u in utts[::max(1, len(utts) // (4 * n))]:
        x = corpus.load(u, SR)
        if min_s * SR <= len(x) <= max_s * SR and float(np.abs(x).max()) < 0.999:
            out.append((u.uid, x / max(float(np.abs(x).max()), 1e-6) * 0.5))
        if len(out) == n:
            break
    return out


def debian_speech(n: int = 10, min_s: float = 2.0,
                  max_s: float = 8.0) -> list[tuple[str, np.ndarray]]:
    """`n` held-out Debian utterances (corpus.py's 'test' split: the Dutch dub of Fish
    Fillets NG, voice actors no model here was trained on), 2-8 s long;
    scripts/fetch_speech_corpus.py fetches them."""
    return _corpus_lines("test", n, min_s, max_s, "held-out Debian speech")


def warzone_speech(n: int = 20, min_s: float = 2.0,
                   max_s: float = 8.0) -> list[tuple[str, np.ndarray]]:
    """`n` English voice lines of warzone2100-data (corpus.py's 'eval' split: voice actors no
    model here was trained or chosen on, 11.025 kHz), 2-8 s long: the second held-out set,
    first scored in issue #29's eleventh round; scripts/fetch_speech_corpus.py fetches it."""
    return _corpus_lines("eval", n, min_s, max_s, "warzone2100 speech")


def dev_speech(n: int = 40, min_s: float = 2.0,
               max_s: float = 8.0) -> list[tuple[str, np.ndarray]]:
    """`n` lines of corpus.py's 'dev' split (every training package: the game dubs and
    festvox-ru; lines never trained on, from voices that were), 2-8 s long. With the tuning
    backgrounds this is the selection set big enough to tell 0.1-0.3 dB apart (the tuning set
    has 5 phrases, the Czech dev lines 6); never a held-out set."""
    return _corpus_lines("dev", n, min_s, max_s, "Debian dev speech")


def fullband_speech(n: int = 6) -> list[tuple[str, np.ndarray]]:
    """`n` Debian lines with speech above 8 kHz for the high-band check: the fillets-ng-data-cs
    lines recorded at 44.1 kHz in corpus.py's 'dev' split (never trained on; the Dutch
    held-out dub and the other packages have next to nothing above 8 kHz), 2-8 s long."""
    import av

    from foley_desktop.separation import corpus

    out = []
    for u in sorted(corpus.list_utterances(), key=lambda u: u.uid):
        if u.package != "fillets-ng-data-cs" or u.split != "dev":
            continue
        with av.open(str(u.path)) as c:
            if c.streams.audio[0].rate < 44100:
                continue
        x = corpus.load(u, SR)
        if 2 * SR <= len(x) <= 8 * SR and not np.isnan(highband_scores(x, x)["hb_ratio"]):
            out.append((u.uid, x / max(float(np.abs(x).max()), 1e-6) * 0.5))
        if len(out) == n:
            break
    if not out:
        raise MediaError("no full-band Debian speech: run scripts/fetch_speech_corpus.py")
    return out


def make_mixtures_arrays(speech: list[tuple[str, np.ndarray]], background_files: list[Path],
                         snrs=SNRS) -> list[Mixture]:
    """make_mixtures for speech given as (name, 48 kHz array) pairs."""
    backgrounds = [read_audio(p, mono=True)[0] for p in background_files]
    mixes = []
    for si, (name, s) in enumerate(speech):
        s = np.concatenate([np.zeros(PAD, np.float32), s, np.zeros(PAD, np.float32)])
        for bp, b in zip(background_files, backgrounds):
            # Loop the background from a different offset for each sentence.
            off = (si * 7919) % max(1, len(b))
            b = np.resize(np.roll(b, -off), len(s)).astype(np.float32)
            for snr in snrs:
                gain = np.sqrt(np.dot(s, s) / max(np.dot(b, b), 1e-20) / 10 ** (snr / 10))
                mixes.append(Mixture(f"{name}+{bp.stem}", snr, s, (b * gain).astype(np.float32)))
    return mixes


def highband_table(results: list[Scores], snrs=SNRS) -> str:
    lines = ["| backend | SBR dB | high-band (> 8 kHz) dialogue SI-SDR (median) "
             "| high-band energy kept dB (median) |", "|---|---|---|---|"]
    for sc in results:
        for snr in list(snrs) + ["all"]:
            rows = [r for r in sc.rows if snr == "all" or r["snr"] == snr]
            if not rows or all(np.isnan(r["hb_sisdr"]) for r in rows):
                continue
            lines.append(f"| {sc.backend} | {snr} | "
                         f"{np.nanmedian([r['hb_sisdr'] for r in rows]):.2f} | "
                         f"{np.nanmedian([r['hb_ratio'] for r in rows]):.2f} |")
    return "\n".join(lines)


@dataclass
class Scores:
    backend: str
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    audio_s: float = 0.0


def evaluate(backend: str, mixtures: list[Mixture], pre_pass: bool = True,
             **options) -> Scores:
    """Score `backend` on the mixtures, each run as the file job runs it (`pre_pass`: with the
    backend's measurement over the whole mixture first, when it takes one; False: as a live
    stream, causally)."""
    scores = Scores(backend)
    for m in mixtures:
        x = m.mix
        # Keep the mixture within [-1, 1] as a real file would be; scale all parts alike.
        peak = float(np.abs(x).max())
        g = 0.9 / peak if peak > 0.9 else 1.0
        s, b, x = m.speech * g, m.background * g, x * g
        if backend in ORACLES:
            d_hat = oracle_dialogue(backend, s, b)
            b_hat = x - d_hat
        else:
            sep = make_separator(backend, 1, **options)
            t0, c0 = time.perf_counter(), time.process_time()
            d_hat, b_hat = separate_array(sep, x[None], block=SR, pre_pass=pre_pass)
            scores.seconds += time.perf_counter() - t0
            scores.cpu_seconds += time.process_time() - c0
            d_hat, b_hat = d_hat[0], b_hat[0]
        scores.audio_s += len(x) / SR
        scores.rows.append({
            "name": m.name, "snr": m.snr_db,
            "d_sisdri": si_sdr(d_hat, s) - si_sdr(x, s),
            "b_sisdri": si_sdr(b_hat, b) - si_sdr(x, b),
            "leak": leakage_db(b_hat, s),
            "pause": pause_residual_db(d_hat, s, x),
            "pause_far": pause_residual_db(d_hat, s, x, skip_frames=1),
            "d_first": first_second_sisdri(d_hat, s, x),
            **highband_scores(d_hat, s),
        })
    return scores


def table(results: list[Scores], snrs=SNRS) -> str:
    head = ("| backend | SBR dB | dialogue SI-SDRi (median) | background SI-SDRi (median) "
            "| speech leakage dB | pause residual dB | RTF wall | RTF CPU "
            "| dialogue SI-SDRi, first 1 s of speech (median) "
            "| pause residual > 20 ms from speech dB (diagnostic) |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for sc in results:
        rtf = sc.seconds / max(sc.audio_s, 1e-9)
        rtf_cpu = sc.cpu_seconds / max(sc.audio_s, 1e-9)
        for snr in list(snrs) + ["all"]:
            rows = [r for r in sc.rows if snr == "all" or r["snr"] == snr]
            if not rows:
                continue
            med = {k: float(np.nanmedian([r[k] for r in rows]))
                   for k in ("d_sisdri", "b_sisdri", "leak", "pause", "d_first", "pause_far")}
            speed = ("- | -" if sc.backend in ORACLES else f"{rtf:.3f} | {rtf_cpu:.3f}")
            lines.append(f"| {sc.backend} | {snr} | {med['d_sisdri']:.2f} | {med['b_sisdri']:.2f}"
                         f" | {med['leak']:.1f} | {med['pause']:.1f} | {speed}"
                         f" | {med['d_first']:.2f} | {med['pause_far']:.1f} |")
    return "\n".join(lines)


def default_media_root() -> Path:
    base = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media"))
    return base / "root"
