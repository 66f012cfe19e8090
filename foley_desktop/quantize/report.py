"""Quality figures of a variant's audio against the FP32 audio of the same seed and input, and
the bench's tables.

- Log-spectral distance (dB): RMS over frequency of the difference of the two log power spectra,
  averaged over frames (Hann 2048 / hop 512 at 48 kHz); bins more than 80 dB below the
  reference's peak are floored so that silence does not dominate. 0 dB = identical.
- Onsets: spectral flux of log band energies at 100 Hz, peak-picked against a moving median;
  F1 at +-50 ms (one-to-one matching). Reported against the clip's true event times when a
  sidecar JSON lists them (`events_samples`), and against the FP32 take's onsets.
"""

from __future__ import annotations

import itertools

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR


def _stft_power(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    audio = np.asarray(audio, np.float64).reshape(-1)
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = 1 + (len(audio) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(audio[idx] * np.hanning(n_fft)[None, :], axis=1)
    return spec.real ** 2 + spec.imag ** 2          # [frames, bins]


def log_spectral_distance(ref: np.ndarray, test: np.ndarray, floor_db: float = 80.0) -> float:
    n = min(len(ref), len(test))
    pr, pt = _stft_power(ref[:n], 2048, 512), _stft_power(test[:n], 2048, 512)
    floor = max(pr.max(), 1e-20) * 10 ** (-floor_db / 10)
    lr = 10 * np.log10(np.maximum(pr, floor))
    lt = 10 * np.log10(np.maximum(pt, floor))
    return float(np.mean(np.sqrt(np.mean((lr - lt) ** 2, axis=1))))


def onsets(audio: np.ndarray, sr: int = SR, min_gap_s: float = 0.1, delta: float = 0.25
           ) -> np.ndarray:
    """Onset times in samples (at `sr`)."""
    hop = sr // 100
    p = _stft_power(audio, 2048, hop)
    edges = np.unique(np.geomspace(2, p.shape[1] - 1, 41).astype(int))
    bands = np.stack([p[:, a:b].sum(axis=1) for a, b in itertools.pairwise(edges)], axis=1)
    z = np.log(bands + max(bands.max(), 1e-20) * 1e-8)
    flux = np.maximum(np.diff(z, axis=0, prepend=z[:1]), 0.0).mean(axis=1)
    if flux.max() <= 0:
        return np.zeros(0, np.int64)
    flux = flux / flux.max()
    k = 25
    pad = np.pad(flux, k, mode="edge")
    med = np.array([np.median(pad[i:i + 2 * k + 1]) for i in range(len(flux))])
    out: list[int] = []
    gap = round(min_gap_s * 100)
    for i in range(1, len(flux) - 1):
        if flux[i] >= med[i] + delta and flux[i] >= flux[i - 1] and flux[i] >= flux[i + 1]:
            if out and i - out[-1] < gap:
                if flux[i] > flux[out[-1]]:
                    out[-1] = i
                continue
            out.append(i)
    # frame i is centred at i*hop + n_fft/2
    return np.array(out, np.int64) * hop + 1024


def onset_f1(ref: np.ndarray, est: np.ndarray, tol: int = SR // 20) -> float:
    """F1 of `est` against `ref` (sample positions), greedy one-to-one within +-tol."""
    if len(ref) == 0 and len(est) == 0:
        return 1.0
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    used = np.zeros(len(est), bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r).astype(float)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= tol:
            used[j] = True
            hits += 1
    prec, rec = hits / len(est), hits / len(ref)
    return 0.0 if hits == 0 else 2 * prec * rec / (prec + rec)


def quality(ref: np.ndarray, test: np.ndarray, events: np.ndarray | None = None) -> dict:
    """The quality figures of `test` against the FP32 take `ref` (same seed, same input)."""
    o_ref, o_test = onsets(ref), onsets(test)
    err = float(np.sum((ref.astype(np.float64) - test) ** 2))
    snr = None if err == 0 else round(float(10 * np.log10(
        max(float(np.sum(ref.astype(np.float64) ** 2)), 1e-30) / err)), 2)
    q = {"lsd_db": round(log_spectral_distance(ref, test), 4), "snr_db": snr,
         "identical": err == 0,
         "onset_f1_vs_fp32": round(onset_f1(o_ref, o_test), 4)}
    if events is not None:
        f_ref, f_test = onset_f1(events, o_ref), onset_f1(events, o_test)
        q.update({"onset_f1_events": round(f_test, 4), "onset_f1_events_fp32": round(f_ref, 4),
                  "onset_f1_change": round(f_test - f_ref, 4)})
    return q


# ---------------------------------------------------------------- tables

def _f(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def markdown(result: dict) -> str:
    """The bench result as Markdown: one table per thread count, then the ratios.

    Memory columns: peak RSS of the worker process; model RSS = peak minus the RSS before the
    package loaded (graphs, runs, video decoding, post-processing); load RSS = what creating
    the sessions added (the graphs in memory)."""
    lines = [f"# Bench: {result['package']['name']} {result['package']['version']}", "",
             (f"Provider {result['provider']}; input: {result['input']['description']}; "
              f"{result['rounds']} rounds, variants interleaved, each run in a fresh process; "
              "figures are medians."), ""]
    if result.get("fallback_reason"):
        lines += [f"Provider fallback: {result['fallback_reason']}", ""]
    for th, rows in result["by_threads"].items():
        lines += [f"## {th} thread{'s' if th != '1' else ''}", "",
                  ("| version | peak RSS MB | model RSS MB | load RSS MB | text ms | visual ms "
                   "| denoiser step ms | decoder ms | end-to-end s | segments/s | vs FP32 "
                   "| size MB | size vs FP32 | LSD dB | SNR dB | onset F1 (events) "
                   "| onset F1 vs FP32 |"),
                  "|" + "---|" * 17]
        for r in rows.values():
            q = r.get("quality", {})
            ev = q.get("onset_f1_events")
            evs = "—" if ev is None else f"{ev:.2f} ({q['onset_f1_change']:+.2f})"
            lines.append(
                f"| {r['label']} | {_f(r['peak_rss_mb'], '.0f')} | {_f(r['model_rss_mb'], '.0f')} "
                f"| {_f(r.get('load_rss_mb'), '.0f')} "
                f"| {_f(r['stage_ms'].get('text_encoder'), '.1f')} "
                f"| {_f(r['stage_ms'].get('visual_encoder'), '.1f')} "
                f"| {_f(r['stage_ms'].get('denoiser'), '.1f')} "
                f"| {_f(r['stage_ms'].get('decoder'), '.1f')} | {r['end_to_end_s']:.3f} "
                f"| {r['segments_per_s']:.3f} | {_f(r.get('speedup_vs_fp32'), '.2f')}x "
                f"| {r['size_mb']:.2f} | {_f(r.get('size_ratio_vs_fp32'), '.2f')} "
                f"| {_f(q.get('lsd_db'), '.2f')} | {_f(q.get('snr_db'), '.1f')} | {evs} "
                f"| {_f(q.get('onset_f1_vs_fp32'), '.2f')} |")
        lines.append("")
        lines += [(f"Where the end-to-end time goes ({th} thread{'s' if th != '1' else ''}, "
                  "engine timings, medians, s): visual = video decode + visual encoder, "
                  "post = resampling, loudness and true-peak limiting."), "",
                  "| version | text | visual | denoise (all steps) | decode | post | total |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows.values():
            e = r.get("engine_split_s", {})
            lines.append(f"| {r['label']} | " + " | ".join(
                _f(e.get(k), ".3f") for k in ("text_s", "visual_s", "denoise_s", "decode_s",
                                               "post_s", "total_s")) + " |")
        lines.append("")
    lines += [f"## Ratios (INT8 variant `{result.get('int8_variant')}` vs FP32)", ""]
    for key in ("speedup_int8_vs_fp32", "size_ratio_int8_vs_fp32", "memory_ratio_int8_vs_fp32",
                "model_memory_ratio_int8_vs_fp32", "load_memory_ratio_int8_vs_fp32"):
        lines.append(f"- {key}: {result.get(key)}")
    for th, v in result.get("speedup_int8_vs_fp32_by_threads", {}).items():
        lines.append(f"- speedup at {th} thread(s): {v}")
    for t in result.get("targets", []):
        lines.append(f"- target {t['what']}: {t['measured']} -> {'met' if t['met'] else 'MISSED'}")
    lines.append("")
    return "\n".join(lines)
