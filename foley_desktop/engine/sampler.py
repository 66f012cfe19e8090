"""Flow-matching ODE sampling (Euler, Heun) with classifier-free guidance and inpainting.

The graph predicts a velocity v = dx/dt along its own time axis. `time` in the manifest says
which end is noise: "noise_to_data" (t: 0 -> 1, x_t = (1 - t) noise + t data) or
"data_to_noise" (t: 1 -> 0, x_t = (1 - t) data + t noise). Both are integrated the same way:
from the noise end to the data end over a schedule of noise levels s (1 -> 0), optionally
shifted (s' = shift s / (1 + (shift - 1) s)), so a step is x += (t_next - t) v.

Guidance: conditional and unconditional halves run as one batch; v = v_u + g (v_c - v_u).
With a separate visual guidance g_v (`visual_guidance`), three thirds run as one batch:
conditional, prompt-only (the prompt with the unconditional visual features) and unconditional;
v = v_u + g (v_p - v_u) + g_v (v_c - v_p), so the prompt and the picture are weighted apart.
Visual guidance interval (`visual_guidance_until`, a package setting): g_v applies only while
the noise level is at least this value, and the picture's weight is 1 (plain conditioning)
below it. The early, noisy steps lay down where events happen; the late ones shape the sound's
fine spectral texture, which a strong pull towards the picture drags away from the prompt's
class (foley-tiny on its validation clips: g_v 9 until level 0.6 kept onset F1 and raised the
classifier's accuracy, while g_v only in the late steps lost the timing; see its model card).
Output filter (`latent_median`, a package setting, applied by `output_filter` before decoding):
a running median over time of the final latent, per channel, with an odd window. A small
undertrained denoiser leaves frame-to-frame noise in its samples (foley-tiny: 4.6x the
frame-to-frame change of real latents), which decodes as grain and as false onsets; a median
removes such isolated outliers but keeps steps, so attacks stay where they are.
Inpainting (RePaint-style, used to continue the previous window): where `known_mask` is 1 the
state is replaced after every step by the known latent carried to the current noise level with
this run's own initial noise, so the known frames end exactly as given and the rest is sampled
consistently with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from foley_desktop.jobs import CancelToken, check

# denoise(x [B, C, F], t_graph [B]) -> v [B, C, F]
DenoiseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
StepFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SamplerConfig:
    method: str = "euler"            # "euler" | "heun"
    steps: int = 10
    guidance: float = 1.0
    time: str = "noise_to_data"
    timestep_scale: float = 1.0
    shift: float = 1.0
    visual_guidance: float | None = None   # None: one guidance for both conditions
    latent_median: int = 0                  # odd window (frames) of the output filter; 0: off
    visual_guidance_until: float = 0.0      # noise level below which g_v is 1 (0: every step)

    def rows_per_seed(self, guided: bool) -> int:
        """Denoiser batch rows per seed: 1 unguided, 2 guided, 3 with separate visual guidance."""
        if not guided:
            return 1
        return 2 if self.visual_guidance is None else 3

    def noise_levels(self) -> np.ndarray:
        s = np.linspace(1.0, 0.0, self.steps + 1, dtype=np.float64)
        if self.shift != 1.0:
            s = self.shift * s / (1.0 + (self.shift - 1.0) * s)
        return s

    def graph_times(self) -> np.ndarray:
        """The graph's own t at each level (unscaled)."""
        s = self.noise_levels()
        return 1.0 - s if self.time == "noise_to_data" else s

    def evaluations(self) -> int:
        """Denoiser runs per sampling: Heun's last step has no corrector (it would hit t = data)."""
        return self.steps if self.method == "euler" else 2 * self.steps - 1


def noised(known: np.ndarray, noise: np.ndarray, t: float, time: str) -> np.ndarray:
    """The known latent at graph time t on the straight path from `noise`."""
    a = t if time == "noise_to_data" else 1.0 - t   # weight of data
    return (1.0 - a) * noise + a * known


def sample(denoise: DenoiseFn, noise: np.ndarray, cfg: SamplerConfig, *,
           guided: bool, known: np.ndarray | None = None, known_mask: np.ndarray | None = None,
           on_step: StepFn | None = None, cancel: CancelToken | None = None) -> np.ndarray:
    """Integrate from `noise` [S, C, F] to data; returns float32 [S, C, F].

    With `guided`, `denoise` receives 2S rows (conditional first, unconditional second) and the
    caller has set up the conditioning in that order; with `cfg.visual_guidance` set, 3S rows:
    conditional, prompt-only (unconditional visual features), unconditional.
    """
    if (known is None) != (known_mask is None):
        raise ValueError("inpainting needs both `known` and `known_mask`")
    ts = cfg.graph_times()
    x = noise.astype(np.float64)
    n_eval = cfg.evaluations()
    done = 0

    def velocity(x_now: np.ndarray, t: float) -> np.ndarray:
        nonlocal done
        check(cancel)
        k = cfg.rows_per_seed(guided)
        batch = np.concatenate([x_now] * k) if k > 1 else x_now
        tt = np.full(len(batch), t * cfg.timestep_scale, dtype=np.float32)
        v = denoise(batch.astype(np.float32), tt).astype(np.float64)
        n = len(x_now)
        if k == 2:
            vc, vu = v[:n], v[n:]
            v = vu + cfg.guidance * (vc - vu)
        elif k == 3:
            vc, vp, vu = v[:n], v[n: 2 * n], v[2 * n:]
            level = 1.0 - t if cfg.time == "noise_to_data" else t
            gv = (cfg.visual_guidance if cfg.visual_guidance is not None
                  and level >= cfg.visual_guidance_until else 1.0)
            v = vu + cfg.guidance * (vp - vu) + gv * (vc - vp)
        done += 1
        if on_step is not None:
            on_step(done, n_eval)
        return v

    def inpaint(x_now: np.ndarray, t: float) -> np.ndarray:
        if known is None or known_mask is None:
            return x_now
        return np.where(known_mask > 0, noised(known, noise, t, cfg.time), x_now)

    x = inpaint(x, float(ts[0]))
    for i in range(cfg.steps):
        t0, t1 = float(ts[i]), float(ts[i + 1])
        v0 = velocity(x, t0)
        x_euler = x + (t1 - t0) * v0
        if cfg.method == "heun" and i < cfg.steps - 1:
            v1 = velocity(x_euler, t1)
            x = x + (t1 - t0) * 0.5 * (v0 + v1)
        else:
            x = x_euler
        x = inpaint(x, t1)
    check(cancel)
    return x.astype(np.float32)


def output_filter(latent: np.ndarray, cfg: SamplerConfig) -> np.ndarray:
    """The latent to decode: the sampled one through the package's output filter. Callers keep
    the unfiltered latent for continuing the next window, so inpainting stays exact."""
    return median_over_time(latent, cfg.latent_median).astype(np.float32)


def median_over_time(x: np.ndarray, window: int) -> np.ndarray:
    """Running median of [..., F] over the last axis (edges repeat the end frames)."""
    if window <= 1:
        return x
    if window % 2 == 0:
        raise ValueError(f"latent_median must be odd, got {window}")
    h = window // 2
    pad = np.concatenate([np.repeat(x[..., :1], h, -1), x, np.repeat(x[..., -1:], h, -1)], -1)
    n = x.shape[-1]
    return np.median(np.stack([pad[..., j: j + n] for j in range(window)]), axis=0)


def initial_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal noise from PCG64(seed): all of a take's randomness comes from here."""
    return np.random.Generator(np.random.PCG64(seed)).standard_normal(shape).astype(np.float32)


class NoiseStream:
    """The frame-major noise of `initial_noise(seed, (frames, channels))`, drawn as windows ask
    for it: frame f is the same in a 2 s and a 2 h segment, but only the frames of the windows
    in hand are in memory (a 30-hour segment used to allocate its whole noise first)."""

    def __init__(self, seed: int, channels: int) -> None:
        self._gen = np.random.Generator(np.random.PCG64(seed))
        self._channels = channels
        self._buf = np.zeros((0, channels), np.float32)
        self._first = 0          # frame index of self._buf[0]

    def window(self, f0: int, n: int) -> np.ndarray:
        """Noise [channels, n] for frames f0 .. f0+n-1; windows only move forward."""
        if f0 < self._first:
            raise ValueError("NoiseStream windows must move forward")
        have = self._first + len(self._buf)
        if f0 + n > have:
            # PCG64 draws are a stream: drawing in pieces gives the very values one draw would.
            more = self._gen.standard_normal((f0 + n - have, self._channels)).astype(np.float32)
            self._buf = np.concatenate([self._buf, more])
        self._buf = self._buf[f0 - self._first:]
        self._first = f0
        return self._buf[:n].T
