"""Train the `masknet` separation backend's mask-refinement network (issue #7).

Stages (each deterministic for a given --seed; run them in order, scripts/train_separation_mask.sh):

    python -m foley_desktop.train.separation_mask speech  --work DIR   # fetch + synthesize speech
    python -m foley_desktop.train.separation_mask data    --work DIR   # mixtures -> features
    python -m foley_desktop.train.separation_mask train   --work DIR   # torch, CPU, 1 thread
    python -m foley_desktop.train.separation_mask export  --work DIR --out resources/models/...

Training speech (never the evaluation speech: not pocketsphinx-testdata's librivox/ sentences,
not CMU ARCTIC; the `cards/` phrases are only used for validation):
- only with --recorded-share > 0 (an experiment, not the shipped recipe): warzone2100-data
  (Debian, GPL-2+), ~11.5 min of recorded English sentences spoken by voice actors (the game's
  tutorial narration, research/mission announcements, countdowns), mono 11.025 kHz, so
  nothing above 5.5 kHz: the loss ignores the bins above 5 kHz of those mixtures. The only
  sentence-level real speech found offline outside the evaluation set; at a share of 0.5 it
  made the tuning-set loss worse (-12.35 dB, -12.61 with the high bins ignored, against
  -12.73 without it), so masknet-v1 is trained without it;
- klettres-data (Debian, GPL-2+): ~1800 recorded letters, syllables and short words read by
  people in 20+ languages; concatenated here into phrase-like runs with short gaps;
- espeak-ng (Debian, GPL-3+) sentences with varied voice variants, speed and pitch;
- festival + festvox-kallpc16k (Debian, free licence of the Festvox/CSTR voices: a
  diphone voice concatenating recorded human diphones) sentences.
Sentence text for the synthesizers: sentences of /usr/share/common-licenses/* (any prose will do).

Backgrounds: minetest-data, scratch and sonic-pi-samples files from the test-media cache,
*excluding* every file matching the evaluation's BACKGROUNDS globs (all variants, e.g. every
fire_fire.*), the tuning set's backgrounds (loop_safari, Typing, Bubbles, ambi_choir) and
voice-like sounds (scratch Vocals, laughs, coughs, screams, sneezes, baby cries); plus
synthetic coloured noise.

The features come from `foley_desktop.separation.masknet.dump_features`, i.e. the backend's
own streaming code, so training and inference read identical inputs. The loss (per clip,
dB, averaged) is minus the STFT-domain SI-SDR of the gated, masked mixture against the clean
speech, written with the projection of S on X's phase so that only |X|, Re(S X*)/|X| and
|S|^2 summed need storing, plus 0.05 x the dialogue energy left in exact speech pauses
relative to the mixture there (see `sdr_loss`). Shipped run: `--arch v2`, 2200 steps.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.train.paths import MEDIA_ROOT

HOP = 480
WIN = 960
BINS = WIN // 2 + 1
CLIP_S = 4.0
PAUSE_WEIGHT = 0.05
RECORDED_BAND_HZ = 5000.0  # warzone2100 speech is 11.025 kHz: the loss ignores bins above this

EVAL_EXCLUDE = (  # evaluation backgrounds (every variant), tuning backgrounds, voice-like
    "fire_fire.", "default_gravel_footstep.", "doors_door_open", "WaterRunning.", "Footsteps-",
    "CarPassing.", "loop_amen", "loop_tabla", "ambi_piano", "guit_em9",
    "loop_safari", "Typing", "Bubbles", "ambi_choir",
    "/Vocals/", "Laugh", "Cough", "Scream", "Sneeze", "BabyCry", "Beatbox", "_robot",
    "tabla_",  # single tabla strokes: possibly the very sounds of the loop_tabla evaluation loop
)
TUNE_BACKGROUNDS = ("usr/share/sonic-pi/samples/loop_safari.flac",
                    "usr/share/scratch/Media/Sounds/Effects/Typing.*",
                    "usr/share/scratch/Media/Sounds/Effects/Bubbles.*",
                    "usr/share/sonic-pi/samples/ambi_choir.flac")
TUNE_SPEECH = "usr/share/pocketsphinx/test/data/cards/*.wav"


def _threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# ---------------------------------------------------------------------------------------
# speech
def stage_speech(work: Path, seed: int, recorded: bool = False) -> None:
    """klettres recordings (unpacked from the Debian package) and synthesized sentences."""
    rng = np.random.default_rng(seed)
    deb_dir = work / "debs"
    deb_dir.mkdir(parents=True, exist_ok=True)
    root = deb_dir / "root"
    if not (root / "usr/share/klettres").is_dir():
        subprocess.run(["apt-get", "download", "klettres-data"], cwd=deb_dir, check=True)
        deb = max(deb_dir.glob("klettres-data_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    lic = work / "speech" / "LICENSES"
    lic.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "usr/share/doc/klettres-data/copyright", lic / "klettres-data.copyright")
    if recorded:
        _recorded_sentences(deb_dir, work / "speech" / "recorded", lic)
    for pkg in ("espeak-ng-data", "festvox-kallpc16k", "festival"):
        src = Path(f"/usr/share/doc/{pkg}/copyright")
        if src.is_file():
            shutil.copy(src, lic / f"{pkg}.copyright")
    # Sentences for the synthesizers.
    text = " ".join(Path(p).read_text(errors="ignore")
                    for p in sorted(glob.glob("/usr/share/common-licenses/*"))
                    if Path(p).is_file())
    sents = [re.sub(r"\s+", " ", s).strip() for s in re.split(r"(?<=[.;:!?])\s+", text)]
    sents = [s for s in sents if 6 <= len(s.split()) <= 22 and re.fullmatch(r"[A-Za-z ,'\-.;:]+", s)]
    sents = sorted(set(sents))
    rng.shuffle(sents)
    out = work / "speech" / "tts"
    out.mkdir(parents=True, exist_ok=True)
    variants = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4",
                "+f5", "+klatt", "+klatt2", "+croak", "+whisper"]
    voices = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
              "en-gb-x-gbcwmd"]
    n_espeak, n_fest = 360, 160
    for i in range(n_espeak):
        wav = out / f"espeak_{i:04d}.wav"
        if wav.exists():
            continue
        v = voices[rng.integers(len(voices))] + variants[rng.integers(len(variants) - 1)]
        subprocess.run(["espeak-ng", "-v", v, "-s", str(int(rng.integers(120, 200))),
                        "-p", str(int(rng.integers(20, 80))), "-w", str(wav),
                        sents[i % len(sents)]], check=True, capture_output=True)
    for i in range(n_fest):
        wav = out / f"festival_{i:04d}.wav"
        if wav.exists():
            continue
        subprocess.run(["text2wave", "-o", str(wav)], input=sents[(n_espeak + i) % len(sents)],
                       text=True, check=True, capture_output=True)
    print(f"speech: {len(list(out.glob('*.wav')))} synthesized sentences, klettres in {root}")


def _recorded_sentences(deb_dir: Path, out: Path, lic: Path) -> None:
    """Unpack the spoken sentences of warzone2100-data (not installed: only downloaded); the
    speech corpus lists them (corpus.WZ_SPEECH_DIRS) and reads each stored Ogg file."""
    from foley_desktop.separation import corpus

    if out.is_dir() and any(out.glob("*.ogg")):
        return
    if not list(deb_dir.glob("warzone2100-data_*.deb")):
        subprocess.run(["apt-get", "download", "warzone2100-data"], cwd=deb_dir, check=True)
    deb = max(deb_dir.glob("warzone2100-data_*.deb"))
    root = deb_dir / "wz"
    if not (root / corpus.WARZONE).is_file():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for u in corpus.list_utterances(root):
        if u.package == "warzone2100-data":
            name = u.uid.split(":", 1)[1]
            (tmp / name.replace("audio/", "").replace("/", "_")).write_bytes(corpus.zip_member(u))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    shutil.copy(root / "usr/share/doc/warzone2100-data/copyright",
                lic / "warzone2100-data.copyright")


# ---------------------------------------------------------------------------------------
# mixtures -> features
def _read(path: Path, sr: int = SR) -> np.ndarray:
    """Mono float32 at `sr`: libsndfile first (some klettres oggs are in a codec FFmpeg's
    decoder lacks), else the app's media layer."""
    import soundfile as sf

    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - not a libsndfile format (mp3 on old builds, ...)
        from foley_desktop.media import read_audio

        return read_audio(path, sr=sr, mono=True)[0]
    x = x.mean(axis=1)
    return x if rate == sr else _resample(x, rate, sr)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    import soxr

    return soxr.resample(x, sr_in, sr_out).astype(np.float32)


def training_backgrounds(media_root: Path = MEDIA_ROOT) -> list[Path]:
    pats = ("usr/share/games/minetest/**/*.ogg", "usr/share/scratch/Media/Sounds/**/*.*",
            "usr/share/sonic-pi/samples/*.flac")
    files = sorted({Path(p) for g in pats for p in glob.glob(str(media_root / g), recursive=True)})
    return [p for p in files if p.suffix.lower() in (".ogg", ".wav", ".mp3", ".flac")
            and not any(x in str(p) for x in EVAL_EXCLUDE)]


def _trim(x: np.ndarray, rel: float = 1e-3) -> np.ndarray:
    a = np.abs(x)
    idx = np.nonzero(a > a.max() * rel)[0] if a.max() > 0 else np.zeros(0, np.intp)
    return x[idx[0]:idx[-1] + 1] if len(idx) else x


class SpeechBank:
    def __init__(self, work: Path, recorded_share: float = 0.0):
        root = work / "debs/root/usr/share/klettres"
        self.klettres: dict[str, list[np.ndarray]] = {}
        for f in sorted(root.glob("*/*/*.ogg")):
            lang = f.parent.parent.name
            self.klettres.setdefault(lang, []).append(_trim(_read(f)))
        self.tts = [_trim(_read(f)) for f in sorted((work / "speech/tts").glob("*.wav"))]
        self.recorded_share = recorded_share
        self.recorded = [_trim(_read(f)) for f in sorted((work / "speech/recorded").glob("*.ogg"))
                         ] if recorded_share > 0 else []
        if recorded_share > 0 and not self.recorded:
            raise SystemExit("no recorded sentences: run the speech stage with --recorded-share")
        print(f"speech bank: {sum(map(len, self.klettres.values()))} klettres clips in "
              f"{len(self.klettres)} languages, {len(self.tts)} TTS sentences, "
              f"{len(self.recorded)} recorded sentences "
              f"({sum(map(len, self.recorded)) / SR / 60:.1f} min)", file=sys.stderr)

    def utterance(self, rng: np.random.Generator, max_len: int) -> tuple[np.ndarray, float | None]:
        """Speech samples and their bandwidth in Hz when it is below 8 kHz (else None)."""
        if self.recorded and rng.random() < self.recorded_share:
            # Real sentences, several in a row with pauses (a line of dialogue), each with its
            # own small speed change so that one speaker does not sound the same every time.
            parts: list[np.ndarray] = []
            total = 0
            while total < max_len * rng.uniform(0.6, 1.0):
                s = self.recorded[rng.integers(len(self.recorded))]
                if rng.random() < 0.5:
                    s = _resample(s, SR, int(SR * rng.uniform(0.92, 1.08)))
                gap = np.zeros(int(rng.uniform(0.1, 0.6) * SR), np.float32)
                parts += [s * rng.uniform(0.6, 1.0), gap]
                total += len(s) + len(gap)
            return np.concatenate(parts[:-1])[:max_len], RECORDED_BAND_HZ
        if rng.random() < 0.55:
            langs = sorted(self.klettres)
            pool = self.klettres[langs[rng.integers(len(langs))]]
            parts = []
            total = 0
            while total < max_len * rng.uniform(0.5, 0.9):
                s = pool[rng.integers(len(pool))]
                gap = np.zeros(int(rng.uniform(0.02, 0.25) * SR), np.float32)
                parts += [s * rng.uniform(0.5, 1.0), gap]
                total += len(s) + len(gap)
            x = np.concatenate(parts[:-1])
        else:
            x = self.tts[rng.integers(len(self.tts))].copy()
            if rng.random() < 0.5:  # speed / pitch change by resampling
                x = _resample(x, SR, int(SR * rng.uniform(0.88, 1.12)))
        return x[:max_len], None


def _colour(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random spectral tilt and, half the time, the 8 kHz band limit of 16 kHz recordings."""
    if rng.random() < 0.5:
        x = _resample(_resample(x, SR, 16000), 16000, SR)[:len(x)]
    X = np.fft.rfft(x)
    f = np.linspace(0, 1, len(X))
    tilt = rng.uniform(-6, 6)  # dB across the band
    X *= 10 ** ((tilt * f + rng.uniform(-3, 3) * np.sin(np.pi * f * rng.uniform(1, 4))) / 20)
    return np.fft.irfft(X, n=len(x)).astype(np.float32)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    w = rng.standard_normal(n)
    X = np.fft.rfft(w)
    f = np.arange(len(X)) + 1.0
    X /= f ** (rng.uniform(0, 1.0))  # white .. pink .. (half-way to) brown
    return np.fft.irfft(X, n=n).astype(np.float32)


def stft(x: np.ndarray, frames: int) -> np.ndarray:
    """Frame k covers [(k-1)HOP, (k+1)HOP) as in the backend (sqrt-Hann)."""
    from foley_desktop.separation.default import _WINDOW

    xp = np.concatenate([np.zeros(HOP, np.float32), x, np.zeros(WIN * 2, np.float32)])
    idx = (np.arange(frames) * HOP)[:, None] + np.arange(WIN)[None]
    return np.fft.rfft(xp[idx] * _WINDOW, axis=-1)


def clip_features(speech: np.ndarray, mix: np.ndarray, band_hz: float | None = None
                  ) -> dict[str, np.ndarray]:
    """Network inputs and loss terms of one mixture. With `band_hz` (band-limited training
    speech) the mixture's bins above it are left out of the loss (|X| stored as 0 there): the
    clean speech says nothing about what a full-band voice would have had there."""
    from foley_desktop.separation.masknet import CONTEXT, dump_features

    K = len(mix) // HOP + 1
    d = dump_features(mix)
    X = stft(mix, K)
    S = stft(speech, K)
    if band_hz is not None:
        cut = int(np.ceil(band_hz / (SR / WIN)))
        X[:, cut:] = 0
        S[:, cut:] = 0
    ax = np.abs(X)
    proj = (S.real * X.real + S.imag * X.imag) / np.maximum(ax, 1e-12)
    es = float((np.abs(S) ** 2).sum())
    orth = float(((np.abs(S) ** 2) - proj ** 2).sum())
    return {"feats": d["feats"][:K + 2 * CONTEXT].astype(np.float16),
            "gw": d["gw"][:K].astype(np.float16), "gate": d["gate"][:K].astype(np.float16),
            "ax": ax.astype(np.float16), "proj": proj.astype(np.float16),
            "es": np.float64(es), "orth": np.float64(max(orth, 0.0))}


def make_train_mix(bank: SpeechBank, bgs: list[np.ndarray], rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, float | None]:
    n = int(CLIP_S * SR)
    u, band = bank.utterance(rng, int(n * 0.9))
    s = _colour(u, rng)
    if rng.random() < 0.5:  # recordings' own hiss / room tone while someone talks
        s = s + _noise(len(s), rng) * np.sqrt(np.mean(s ** 2)) * 10 ** (rng.uniform(-55, -30) / 20)
    speech = np.zeros(n, np.float32)
    off = int(rng.integers(0, n - len(s) + 1))
    speech[off:off + len(s)] = s
    k = 2 if rng.random() < 0.3 else 1
    bg = np.zeros(n, np.float32)
    for _ in range(k):
        if rng.random() < 0.12:
            b = _noise(n, rng)
        else:
            src = bgs[rng.integers(len(bgs))]
            start = int(rng.integers(0, len(src)))
            b = np.resize(np.roll(src, -start), n)
            if rng.random() < 0.5:
                b = _colour(b, rng)
        b = b / max(np.sqrt(np.mean(b ** 2)), 1e-6) * rng.uniform(0.3, 1.0)
        bg += b
    snr = rng.uniform(-8, 10)
    bg *= np.sqrt(np.mean(speech ** 2) / max(np.mean(bg ** 2), 1e-20) / 10 ** (snr / 10))
    mix = speech + bg
    g = rng.uniform(0.1, 0.95) / max(np.abs(mix).max(), 1e-9)
    return (speech * g).astype(np.float32), (mix * g).astype(np.float32), band


def _save(path: Path, clips: list[dict]) -> None:
    np.savez(path, **{f"{k}_{i}": v for i, c in enumerate(clips) for k, v in c.items()})


def _load(path: Path) -> list[dict]:
    z = np.load(path)
    n = 1 + max(int(k.rsplit("_", 1)[1]) for k in z.files)
    keys = sorted({k.rsplit("_", 1)[0] for k in z.files})
    return [{k: z[f"{k}_{i}"] for k in keys} for i in range(n)]


def stage_data(work: Path, seed: int, n_clips: int, recorded_share: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    bank = SpeechBank(work, recorded_share)
    bg_files = training_backgrounds()
    bgs = [_read(p) for p in bg_files]
    bgs = [b for b in bgs if len(b) > SR // 10 and np.abs(b).max() > 0]
    (work / "train_backgrounds.txt").write_text(
        "\n".join(str(p.relative_to(MEDIA_ROOT)) for p in bg_files) + "\n")
    print(f"{len(bgs)} training backgrounds", file=sys.stderr)
    t0 = time.time()
    clips = []
    for i in range(n_clips):
        speech, mix, band = make_train_mix(bank, bgs, rng)
        clips.append(clip_features(speech, mix, band))
        if i % 100 == 0:
            print(f"clip {i}/{n_clips} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    _save(work / "train.npz", clips)
    # Validation: the tuning set (cards phrases x tuning backgrounds, -5/0/+5 dB).
    mixes = tune_mixtures()
    val = []
    for m in mixes:
        x = m.mix
        peak = float(np.abs(x).max())
        g = 0.9 / peak if peak > 0.9 else 1.0
        val.append(clip_features(m.speech * g, x * g))
    _save(work / "val.npz", val)
    print(f"data: {n_clips} training clips, {len(val)} validation clips, "
          f"{time.time() - t0:.0f}s", file=sys.stderr)


def tune_backgrounds() -> list[Path]:
    """The four tuning backgrounds (never trained on, never in a held-out set)."""
    return [Path(min(glob.glob(str(MEDIA_ROOT / g)))) for g in TUNE_BACKGROUNDS
            if glob.glob(str(MEDIA_ROOT / g))]


def tune_mixtures(snrs=(-5, 0, 5)):
    from foley_desktop.separation import evaluate as ev

    speech = sorted(Path(p) for p in glob.glob(str(MEDIA_ROOT / TUNE_SPEECH)))
    return ev.make_mixtures(speech, tune_backgrounds(), snrs)


# ---------------------------------------------------------------------------------------
# model
def build_model(hidden: int = 128, n_feats: int = 128, arch: str = "v1"):
    """v1: band features (5 frames) + gate -> GRU -> per-bin (a, b).
    v2: v1 plus, for the current frame, per-bin log|X|^2 and logit(Gw) through a linear layer
    added to the first layer's output (the network then sees the mixture's fine structure)."""
    import torch
    from torch import nn

    class MaskNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mu", torch.zeros(n_feats))
            self.register_buffer("sd", torch.ones(n_feats))
            self.conv = nn.Conv1d(n_feats, hidden, 5)
            if arch == "v2":
                self.bins = nn.Linear(2 * BINS, hidden)
            self.gru = nn.GRU(hidden + 1, hidden, batch_first=True)
            self.out = nn.Linear(hidden, 2 * BINS)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, feats, gate, gw, h0, xpow=None):
            x = (feats - self.mu) / self.sd
            y = self.conv(x.transpose(1, 2)).transpose(1, 2)
            g = gw.clamp(1e-6, 1 - 1e-6)
            lg = torch.log(g) - torch.log1p(-g)
            if arch == "v2":
                lx = (torch.log10(xpow + 1e-9) + 4.0) / 3.0
                y = y + self.bins(torch.cat([lx, lg * 0.25], dim=-1))
            y = torch.relu(y)
            z, h = self.gru(torch.cat([y, gate], dim=-1), h0)
            o = self.out(z)
            a = 1.0 + o[..., :BINS]
            b = o[..., BINS:]
            return torch.sigmoid(a * lg + b), h

    return MaskNet()


def _batch(clips: list[dict], idx):
    import torch

    t = lambda k: torch.from_numpy(np.stack([clips[i][k].astype(np.float32) for i in idx]))
    extra = lambda k: torch.tensor([float(clips[i][k]) for i in idx])
    return (t("feats"), t("gate")[..., None], t("gw"), t("ax"), t("proj"), extra("es"),
            extra("orth"))


def sdr_loss(G, gate, ax, proj, es, orth, pause_weight: float = 0.0):
    """Per-clip loss, dB: minus the (scale-invariant) SDR of the gated, masked mixture, plus
    `pause_weight` x the dialogue energy left where the clean speech is exactly zero,
    relative to the mixture there (floored at -90 dB): that is where musical noise is heard.

    All in the STFT domain (a tight frame: inner products as in the time domain), with
    E = G X and only the projection of S on X's phase needed: <E, S> = sum G |X| proj."""
    import torch

    e = G * gate * ax
    e2 = (e * e).sum(dim=(1, 2))
    es_ = (e * proj).sum(dim=(1, 2)).clamp_min(1e-9)
    loss = 10 * torch.log10((es * e2 - es_ * es_).clamp_min(0) / (es_ * es_) + 1e-4)
    if pause_weight:
        quiet = (proj.abs().amax(dim=2, keepdim=True) == 0).float()
        num = (e * e * quiet).sum(dim=(1, 2))
        den = (ax * ax * quiet).sum(dim=(1, 2))
        has = den > 0
        pause = 10 * torch.log10(num / den.clamp_min(1e-12) + 1e-9)
        loss = loss + pause_weight * torch.where(has, pause, torch.zeros_like(pause))
    return loss


def _eval_loss(model, clips: list[dict], hidden: int) -> tuple[float, float]:
    """Mean loss over clips of any length (one at a time), model and the default mask."""
    import torch

    tot = base = 0.0
    with torch.no_grad():
        for c in clips:
            f, gate, gw, ax, proj, es, orth = _batch([c], [0])
            G, _ = model(f, gate, gw, torch.zeros(1, 1, hidden), ax * ax)
            tot += float(sdr_loss(G, gate, ax, proj, es, orth, PAUSE_WEIGHT).mean())
            base += float(sdr_loss(gw, gate, ax, proj, es, orth, PAUSE_WEIGHT).mean())
    return tot / len(clips), base / len(clips)


def stage_train(work: Path, seed: int, steps: int, batch: int, hidden: int, lr: float,
                arch: str = "v2", tag: str = "", pause_weight: float = 0.05) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(seed)
    clips = _load(work / "train.npz")
    val = _load(work / "val.npz")
    model = build_model(hidden, arch=arch)
    allf = np.concatenate([c["feats"].astype(np.float32) for c in clips[:300]])
    model.mu.copy_(torch.from_numpy(allf.mean(0)))
    model.sd.copy_(torch.from_numpy(allf.std(0) + 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.05)
    with open(work / f"train{tag}.log", "a") as log:
        v, vb = _eval_loss(model, val, hidden)
        print(f"step 0 val {v:.3f} (default mask {vb:.3f})", file=log, flush=True)
        t0 = time.time()
        best = (v, 0)
        torch.save(model.state_dict(), work / f"best{tag}.pt")
        for step in range(1, steps + 1):
            idx = rng.choice(len(clips), batch, replace=False)
            f, gate, gw, ax, proj, es, orth = _batch(clips, idx)
            G, _ = model(f, gate, gw, torch.zeros(1, batch, hidden), ax * ax)
            loss = sdr_loss(G, gate, ax, proj, es, orth, pause_weight).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 50 == 0:
                print(f"step {step} loss {float(loss.detach()):.3f} {time.time() - t0:.0f}s", file=log,
                      flush=True)
            if step % 500 == 0 or step == steps:
                v, _ = _eval_loss(model, val, hidden)
                print(f"step {step} val {v:.3f} (default mask {vb:.3f})", file=log, flush=True)
                if v < best[0]:
                    best = (v, step)
                    torch.save(model.state_dict(), work / f"best{tag}.pt")
        torch.save(model.state_dict(), work / f"last{tag}.pt")
        (work / f"train_summary{tag}.json").write_text(json.dumps(
            {"best_val": best[0], "best_step": best[1], "default_val": vb, "steps": steps,
             "batch": batch, "hidden": hidden, "lr": lr, "seed": seed, "arch": arch,
                 "pause_weight": pause_weight,
             "train_clips": len(clips), "seconds": time.time() - t0}, indent=1))
        print(f"best val {best[0]:.3f} at step {best[1]} (default mask {vb:.3f})", file=log,
              flush=True)


def stage_export(work: Path, out: Path, hidden: int, which: str = "best.pt",
                 arch: str = "v1") -> None:
    import torch

    model = build_model(hidden, arch=arch)
    model.load_state_dict(torch.load(work / which, weights_only=True))
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 7
    args: tuple[torch.Tensor, ...] = (
        torch.zeros(1, n + 4, 128), torch.zeros(1, n, 1), torch.full((1, n, BINS), 0.5),
        torch.zeros(1, 1, hidden))
    names = ["feats", "gate", "gw", "h0"]
    axes = {"feats": {1: "rows"}, "gate": {1: "n"}, "gw": {1: "n"}, "mask": {1: "n"}}
    if arch == "v2":
        args = args + (torch.ones(1, n, BINS),)
        names.append("xpow")
        axes["xpow"] = {1: "n"}
    torch.onnx.export(model, args, str(out), input_names=names,
                      output_names=["mask", "h"], opset_version=17, dynamo=False,
                      dynamic_axes=axes)
    # Check against torch on random input.
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    f = rng.normal(-5, 1, (1, 54, 128)).astype(np.float32)
    gt = rng.random((1, 50, 1)).astype(np.float32)
    gw = rng.random((1, 50, BINS)).astype(np.float32)
    h0 = np.zeros((1, 1, hidden), np.float32)
    xp = (rng.random((1, 50, BINS)) * 10).astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feed = {"feats": f, "gate": gt, "gw": gw, "h0": h0}
    if arch == "v2":
        feed["xpow"] = xp
    m1, _ = sess.run(None, feed)
    with torch.no_grad():
        m2, _ = model(*(torch.from_numpy(a) for a in (f, gt, gw, h0, xp)))
    print(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB); max |onnx - torch| = "
          f"{np.abs(m1 - m2.numpy()).max():.2e}")


def main(argv=None) -> int:
    _threads()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["speech", "data", "train", "export"])
    ap.add_argument("--work", type=Path, default=Path("runs/separation_mask"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--clips", type=int, default=1400)
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--weights", default="best.pt")
    ap.add_argument("--arch", default="v2", choices=["v1", "v2"])
    ap.add_argument("--pause-weight", type=float, default=PAUSE_WEIGHT)
    ap.add_argument("--tag", default="", help="suffix of this run's log and weights")
    ap.add_argument("--recorded-share", type=float, default=0.0,
                    help="share of training utterances taken from warzone2100-data's recorded "
                         "sentences (speech and data stages; 0 = the shipped recipe)")
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    if a.stage == "speech":
        stage_speech(a.work, a.seed, a.recorded_share > 0)
    elif a.stage == "data":
        stage_data(a.work, a.seed, a.clips, a.recorded_share)
    elif a.stage == "train":
        stage_train(a.work, a.seed, a.steps, a.batch, a.hidden, a.lr, a.arch, a.tag,
                    a.pause_weight)
    else:
        out = a.out or Path(__file__).resolve().parents[2] / \
            "resources/models/separation/masknet-v1/masknet.onnx"
        stage_export(a.work, out, a.hidden, a.weights, a.arch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
