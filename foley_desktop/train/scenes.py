"""Paired training clips: real recordings placed at visible events in procedurally drawn video.

Each clip is drawn with numpy at FPS frames per second so that what is seen coincides with what
is heard: a foot lands at the sample where a footstep recording's onset lies, an object lands
on its impact, a door slams on its latch, flames flicker with the fire's loudness. The event
times are returned with the clip, which gives exact ground truth for the sync evaluation.
Augmentation: gain, pitch (resampling), EQ tilt, time jitter, mixing a background bed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from .codec import SR
from .sounds import Recording, SoundClass, classes

FPS = 25
SIZE = 64
SURFACE_COLORS = {
    "dirt": (110, 80, 50), "grass": (60, 140, 50), "gravel": (130, 125, 120), "sand": (215, 190, 130),
    "snow": (240, 240, 250), "wood": (150, 100, 55), "hard": (150, 150, 155), "metal": (95, 105, 120),
    "ice": (180, 215, 240), "glass": (170, 220, 220), "water": (60, 110, 170),
}


@dataclass
class Clip:
    audio: np.ndarray        # float32 [n_samples] at 48 kHz
    frames: np.ndarray       # uint8 [T, SIZE, SIZE, 3]
    caption: str
    cls: str
    events: list[int]        # event sample positions (onsets of event sounds)


def _pitch(a: np.ndarray, factor: float) -> np.ndarray:
    if abs(factor - 1.0) < 1e-3:
        return a
    return soxr.resample(a, SR * factor, SR).astype(np.float32)


def _eq_tilt(a: np.ndarray, rng) -> np.ndarray:
    """Random gentle low/high shelf by a one-pole split (cheap EQ augmentation)."""
    alpha = rng.uniform(0.05, 0.3)
    # One-pole low-pass as a convolution with its (truncated) exponential impulse response.
    w = (1 - alpha) ** np.arange(min(len(a), 2048))[::-1]
    low = np.convolve(a, w[::-1] * alpha, mode="full")[: len(a)]
    high = a - low
    g_lo, g_hi = 10 ** (rng.uniform(-6, 6, size=2) / 20)
    return (g_lo * low + g_hi * high).astype(np.float32)


class Scene:
    """Builds clips of `seconds` length from a bank filtered to one split."""

    def __init__(self, bank: list[Recording], split: str, seconds: float = 5.0):
        self.cls = {c.name: c for c in classes()}
        self.by_cls: dict[str, list[Recording]] = {}
        for r in bank:
            if r.split == split:
                self.by_cls.setdefault(r.cls, []).append(r)
        self.names = sorted(self.by_cls)
        self.n = round(seconds * SR)
        self.t = round(seconds * FPS)

    # ----- audio ---------------------------------------------------------------------------
    def _variant(self, rec: Recording, rng, aug: bool) -> tuple[np.ndarray, int]:
        a, onset = rec.audio, rec.onset
        if aug:
            f = rng.uniform(0.88, 1.12)
            a = _pitch(a, f)
            onset = round(onset / f)
            if rng.random() < 0.5:
                a = _eq_tilt(a, rng)
            a = a * 10 ** (rng.uniform(-6, 3) / 20)
        return a, onset

    @staticmethod
    def _place(out: np.ndarray, a: np.ndarray, at: int):
        s0 = max(at, 0)
        a = a[s0 - at:]
        e = min(len(out), s0 + len(a))
        if e > s0:
            out[s0:e] += a[: e - s0]

    def _bed(self, name: str, rng, aug: bool) -> np.ndarray:
        """Continuous ambience filling the clip (looped with crossfades when short)."""
        out = np.zeros(self.n, np.float32)
        pos = -int(rng.integers(0, SR))
        while pos < self.n:
            rec = self.by_cls[name][rng.integers(len(self.by_cls[name]))]
            a, _ = self._variant(rec, rng, aug)
            start = int(rng.integers(0, max(1, len(a) - SR)))
            a = a[start:].copy()
            fade = min(2400, len(a) // 4)
            if fade > 0:
                ramp = np.linspace(0, 1, fade, dtype=np.float32)
                a[:fade] *= ramp
                a[-fade:] *= ramp[::-1]
            self._place(out, a, pos)
            pos += max(len(a) - fade, SR // 2)
        return out

    def _event_times(self, c: SoundClass, rng) -> list[int]:
        if c.visual == "steps":
            period = rng.uniform(0.38, 0.7)
            t = rng.uniform(0.1, period)
            times = []
            while t < self.n / SR - 0.15:
                times.append(t)
                t += period * rng.uniform(0.9, 1.1)
            if rng.random() < 0.2 and len(times) > 3:      # walker stops part way
                times = times[: int(rng.integers(2, len(times)))]
        elif c.visual in ("glass", "explosion"):
            times = [rng.uniform(0.4, self.n / SR - 1.5)]
        elif c.visual in ("door_open", "door_close"):
            times = [rng.uniform(0.6, self.n / SR - 1.6)]
            if rng.random() < 0.3:
                times.append(times[0] + rng.uniform(1.2, 1.5))
        else:
            k = int(rng.integers(1, 5))
            times = sorted(rng.uniform(0.3, self.n / SR - 0.5, size=k))
            times = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.45]
        return [round(t * SR) for t in times]

    def _event_audio(self, audio: np.ndarray, c: SoundClass, events: list[int], rng,
                     aug: bool) -> None:
        """A recording of class `c` at each event (its onset on the event's sample)."""
        for e in events:
            rec = self.by_cls[c.name][rng.integers(len(self.by_cls[c.name]))]
            a, onset = self._variant(rec, rng, aug)
            if c.visual != "steps" and len(a) > int(2.5 * SR):
                a = a[: int(2.5 * SR)] * np.linspace(1, 0, int(2.5 * SR)) ** 2
            self._place(audio, a, e - onset)

    def _dense_times(self, rng) -> list[int]:
        """Irregular marks 0.18-0.7 s apart (typing, quick steps, a flurry of hits), the
        rhythm an editor spots on real footage whatever the sound is."""
        t, times = rng.uniform(0.1, 0.5), []
        while t < self.n / SR - 0.15:
            times.append(t)
            t += rng.uniform(0.18, 0.7)
        return [round(t * SR) for t in times]

    def make_cross(self, rng, name: str, aug: bool = True) -> Clip:
        """A clip whose picture shows *another* class's kind of event at the sound's event
        times: e.g. feet landing where metal clangs are heard, a falling box on footsteps.
        The timing still agrees (the events are drawn where the sounds are); only the kind
        differs, as on real footage where a walker's steps get a metal prompt. The event times
        follow the picture's class, the sound's class or a dense irregular rhythm, in turn
        with equal chance, so one-shot sounds also come in rhythms only footsteps had."""
        c = self.cls[name]
        others = [n for n in self.names if self.cls[n].kind == "event"
                  and self.cls[n].visual not in (c.visual, "vehicle")]
        pic = self.cls[others[rng.integers(len(others))]]
        how = int(rng.integers(3))
        events = (self._event_times(pic, rng) if how == 0 else
                  self._event_times(c, rng) if how == 1 else self._dense_times(rng))
        audio = np.zeros(self.n, np.float32)
        self._event_audio(audio, c, events, rng, aug)
        caption = c.captions[rng.integers(len(c.captions))]
        peak = np.abs(audio).max()
        if peak > 0:
            audio *= 10 ** (rng.uniform(-14, -1) / 20) / peak
        frames = self._draw(pic, events, audio, rng, None)
        return Clip(audio.astype(np.float32), frames, caption, name, events)

    def make(self, rng, name: str | None = None, aug: bool = True, mix_p: float = 0.25) -> Clip:
        name = name or self.names[rng.integers(len(self.names))]
        c = self.cls[name]
        audio = np.zeros(self.n, np.float32)
        events: list[int] = []
        if c.kind == "event":
            events = self._event_times(c, rng)
            self._event_audio(audio, c, events, rng, aug)
        else:
            audio = self._bed(name, rng, aug)
            if c.visual == "vehicle":   # one pass: the loudness peak is where it crosses centre
                rec = self.by_cls[name][rng.integers(len(self.by_cls[name]))]
                a, _ = self._variant(rec, rng, aug)
                audio[:] = 0
                peak = int(np.argmax(np.convolve(a ** 2, np.ones(4800), "same")))
                at = int(rng.uniform(0.35, 0.65) * self.n)
                self._place(audio, a, at - peak)
                events = [at]
        caption = c.captions[rng.integers(len(c.captions))]
        bg = None
        if aug and rng.random() < mix_p:
            beds = [n for n in self.names if self.cls[n].kind == "ambience" and n != name
                    and self.cls[n].visual != "vehicle"]
            if beds:
                bg = beds[rng.integers(len(beds))]
                bed = self._bed(bg, rng, aug)
                rms_a = np.sqrt(np.mean(audio ** 2) + 1e-12)
                rms_b = np.sqrt(np.mean(bed ** 2) + 1e-12)
                audio += bed * (rms_a / rms_b) * 10 ** (rng.uniform(-18, -8) / 20)
                bcap = self.cls[bg].captions[rng.integers(len(self.cls[bg].captions))]
                caption = f"{caption}, with {bcap} in the background"
        peak = np.abs(audio).max()
        if peak > 0:
            audio *= 10 ** (rng.uniform(-14, -1) / 20) / peak
        frames = self._draw(c, events, audio, rng, bg)
        return Clip(audio.astype(np.float32), frames, caption, name, events)

    # ----- video ---------------------------------------------------------------------------
    def _envelope(self, audio: np.ndarray) -> np.ndarray:
        """Loudness per video frame, 0..1 (drives flicker, ripples, crowd motion)."""
        hop = SR // FPS
        e = np.sqrt(np.mean(audio[: self.t * hop].reshape(self.t, hop) ** 2, axis=1))
        return e / (e.max() + 1e-9)

    def _draw(self, c: SoundClass, events, audio, rng, bg) -> np.ndarray:
        S = SIZE
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
        base = np.array(rng.uniform(20, 90, size=3), np.float32)
        tex = rng.normal(0, 6, size=(S, S, 1)).astype(np.float32)
        frames = np.empty((self.t, S, S, 3), np.float32)
        frames[:] = base + tex
        env = self._envelope(audio)
        ts = np.arange(self.t) / FPS
        ev = np.array(events, np.float64) / SR
        if bg is not None:
            self._draw_ambience(frames, self.cls[bg].visual, env * 0.6, rng, xx, yy, region="top")
        v = c.visual
        if c.kind == "ambience" and v != "vehicle":
            self._draw_ambience(frames, v, env, rng, xx, yy, region="all")
        elif v == "vehicle":
            col = rng.uniform(80, 255, size=3)
            speed = rng.uniform(14, 30) * (1 if rng.random() < 0.5 else -1)   # px per second
            frames[:, 44:, :] = (60, 60, 65)
            for k, t in enumerate(ts):
                x = S / 2 + (t - ev[0]) * speed
                x0, x1 = int(x - 9), int(x + 9)
                frames[k, 34:46, max(x0, 0):max(min(x1, S), 0)] = col
        elif v == "steps":
            ground = np.array(SURFACE_COLORS[c.params["surface"]], np.float32)
            frames[:, 46:, :] = ground + tex[46:] * 1.5
            feet_x = [rng.uniform(16, 26), rng.uniform(36, 46)]
            col = rng.uniform(0, 255, size=3)
            for k, t in enumerate(ts):
                for side in range(2):
                    mine = ev[side::2]
                    prev = mine[mine <= t]
                    nxt = mine[mine > t]
                    if len(nxt) and (nxt[0] - t) < 0.3 and (not len(prev) or t - prev[-1] > 0.05):
                        lift = 10 * np.sin(np.pi * (nxt[0] - t) / 0.3)     # swing down to land
                    else:
                        lift = 0.0
                    y1 = int(46 - lift)
                    x0 = int(feet_x[side])
                    frames[k, y1 - 6:y1, x0 - 5:x0 + 5] = col
                    if len(prev) and t - prev[-1] < 0.12:   # dust or splash at contact
                        r = 3 + 40 * (t - prev[-1])
                        m = (np.abs(xx - x0) < r) & (yy > 44) & (yy < 48)
                        frames[k][m] = 255 - ground * 0.3
        elif v == "impact":
            col = (170, 170, 190) if c.params.get("metal") else rng.uniform(90, 220, size=3)
            frames[:, 50:, :] = rng.uniform(60, 160, size=3)
            xs = rng.uniform(10, 54, size=len(ev))
            for k, t in enumerate(ts):
                for e, x in zip(ev, xs):
                    dt = t - e
                    if -0.5 < dt < 0:
                        y = 50 - 200 * dt * dt * 4
                    elif dt >= 0:
                        y = 50 - max(0.0, 8 * np.sin(np.pi * dt / 0.25)) * (dt < 0.25)
                    else:
                        continue
                    y = int(max(y, 4))
                    frames[k, y - 8:y, int(x) - 5:int(x) + 5] = col
        elif v in ("door_open", "door_close"):
            col = rng.uniform(90, 200, size=3)
            frames[:, 8:56, 20:44] = (30, 25, 20)
            state = 1.0 if v == "door_open" else 0.0    # 1 = closed, 0 = open
            for k, t in enumerate(ts):
                w = state
                for e in ev:
                    if v == "door_open":
                        w = 1.0 if t < e else max(0.15, 1 - (t - e) / 0.5)
                        if len(ev) > 1 and e == ev[1] and t >= e:
                            w = max(0.15, 1 - (t - e) / 0.5)
                    else:
                        if t < e - 0.4:
                            w = 0.15
                        elif t < e:
                            w = 0.15 + 0.85 * (t - (e - 0.4)) / 0.4
                        else:
                            w = 1.0
                    if t < e:
                        break
                frames[k, 8:56, 20:20 + max(int(24 * w), 2)] = col
        elif v == "glass":
            pane = np.array((170, 210, 230), np.float32)
            n_p = 24
            px, py = rng.uniform(14, 50, n_p), rng.uniform(10, 50, n_p)
            vx, vy = rng.normal(0, 30, n_p), rng.uniform(-30, 5, n_p)
            for k, t in enumerate(ts):
                dt = t - ev[0]
                if dt < 0:
                    frames[k, 10:50, 14:50] = pane
                else:
                    x = px + vx * dt
                    y = py + vy * dt + 120 * dt * dt
                    for i in range(n_p):
                        if 0 <= y[i] < S - 2 and 0 <= x[i] < S - 2:
                            frames[k, int(y[i]):int(y[i]) + 3, int(x[i]):int(x[i]) + 3] = pane
                    frames[k, 10:50, 14:16] = pane
        elif v == "explosion":
            cx, cy = rng.uniform(20, 44, size=2)
            for k, t in enumerate(ts):
                dt = t - ev[0]
                if dt < 0:
                    frames[k, int(cy):int(cy) + 6, int(cx):int(cx) + 6] = (200, 30, 30)
                    continue
                flash = np.exp(-dt / 0.08)
                frames[k] += flash * 200
                r = 4 + 60 * dt
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
                frames[k][m] += np.array((255, 140, 20)) * np.exp(-dt / 0.7)
        elif v == "drop":
            frames[:, 40:, :] = (40, 80, 160)
            xs = rng.uniform(12, 52, size=len(ev))
            for k, t in enumerate(ts):
                for e, x in zip(ev, xs):
                    dt = t - e
                    if -0.4 < dt < 0:
                        y = 40 - 250 * dt * dt
                        frames[k, int(y) - 3:int(y), int(x) - 1:int(x) + 2] = (200, 220, 255)
                    elif 0 <= dt < 0.8:
                        r = 2 + 30 * dt
                        d = np.abs(np.sqrt((xx - x) ** 2 + ((yy - 42) * 3) ** 2) - r)
                        frames[k][(d < 1.5) & (yy >= 40)] = 220 * (1 - dt / 0.8) + 30
        elif v == "dog":
            col = rng.uniform(90, 200, size=3)
            cx = rng.uniform(24, 40)
            for k, t in enumerate(ts):
                open_ = max([np.exp(-(t - e) / 0.12) for e in ev if t >= e] + [0.0])
                frames[k, 30:50, int(cx) - 12:int(cx) + 8] = col                  # body
                frames[k, 22:34, int(cx) + 4:int(cx) + 16] = col                  # head
                gap = int(1 + 6 * open_)
                frames[k, 30:30 + gap, int(cx) + 8:int(cx) + 16] = (20, 10, 10)   # mouth
                if open_ > 0.3:
                    frames[k, 22 - int(4 * open_):22, int(cx) + 4:int(cx) + 16] = col
        return np.clip(frames, 0, 255).astype(np.uint8)

    def _draw_ambience(self, frames, v, env, rng, xx, yy, region):
        S = SIZE
        top = 0
        bot = S if region == "all" else 24
        env = np.asarray(env, np.float32)
        ph = rng.uniform(0, 6.28)
        if v in ("fire", "lava"):
            base = np.array((255, 120, 20) if v == "fire" else (230, 50, 10), np.float32)
            cx = rng.uniform(20, 44)
            for k in range(len(frames)):
                h = (bot - top) * (0.25 + 0.6 * env[k]) * rng.uniform(0.85, 1.15)
                wob = 3 * np.sin(yy * 0.5 + k * 1.7 + ph)
                m = (np.abs(xx - cx - wob) < 10 * (1 - (bot - yy) / (h + 1e-3))) & (yy > bot - h) & (yy < bot)
                frames[k][m] = base * (0.6 + 0.4 * env[k])
        elif v == "water":
            for k in range(len(frames)):
                wave = np.sin(xx * 0.4 + yy * 0.15 - k * 0.6 + ph) * (10 + 60 * env[k])
                sl = slice(top, bot)
                frames[k, sl] = np.array((40, 90, 170), np.float32) + wave[sl, :, None] * np.array((0.6, 0.8, 1.0))
        elif v == "crowd":
            n = 40
            px, py = rng.uniform(2, S - 4, n), rng.uniform(top + 2, bot - 4, n)
            cols = rng.uniform(60, 255, size=(n, 3))
            for k in range(len(frames)):
                jx = rng.normal(0, 0.3 + 3 * env[k], n)
                jy = rng.normal(0, 0.3 + 3 * env[k], n)
                for i in range(n):
                    x, y = int(np.clip(px[i] + jx[i], 0, S - 3)), int(np.clip(py[i] + jy[i], top, bot - 3))
                    frames[k, y:y + 3, x:x + 2] = cols[i]
