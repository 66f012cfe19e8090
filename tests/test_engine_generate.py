"""The generate job end to end with real ONNX graphs whose output has a closed form."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from foley_desktop.engine import post, testpkg, windows
from foley_desktop.engine.generate import Engine, GenerateRequest, generate, generate_to_files
from foley_desktop.errors import Cancelled, GenerationError
from foley_desktop.jobs import CancelToken

SR = 48000
ALPHA = 0.3


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("gen") / "analytic", alpha=ALPHA)


@pytest.fixture(scope="module")
def engine(pkg):
    return Engine(pkg, precision="fp32", provider="cpu")


# ---------------------------------------------------------------- numpy reference

def _inits(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _ids(pkg, text):
    vocab = json.loads((pkg / "tokenizer.json").read_text())["model"]["vocab"]
    ids = [vocab.get(w, vocab["[UNK]"]) for w in text.lower().split()][:8]
    return ids or [0]


def text_target(pkg, text):
    """bias + mean(embedding) @ wt: the denoiser's target for a prompt, [C, 1]."""
    emb = _inits(pkg / "text_encoder.fp32.onnx")["emb"]
    d = _inits(pkg / "denoiser.fp32.onnx")
    pooled = emb[_ids(pkg, text)].mean(axis=0)
    return (d["bias"][0] + (pooled @ d["wt"])[:, None]).astype(np.float64)


def noise(seed, frames, channels=4):
    return np.random.Generator(np.random.PCG64(seed)).standard_normal(
        (frames, channels)).astype(np.float32).T.astype(np.float64)


def reference(pkg, prompt, negative, seed, n, guidance, visual=None, window=200, overlap=40,
              alpha=ALPHA):
    """What generate() must return in text-only mode (or with given visual targets)."""
    tc, tu = text_target(pkg, prompt), text_target(pkg, negative)
    plan = windows.plan(math.ceil(n / 480), window, overlap)
    lat = tu + guidance * (tc - tu) + alpha * noise(seed, plan.total_frames)
    if visual is not None:
        lat = lat + guidance * visual     # the unconditional visual target is zero
    chunks = [testpkg.carrier_decode(lat[:, f: f + window], 480, SR) for f in plan.starts]
    joined = windows.join(chunks, (window - overlap) * 480, overlap * 480)[:n]
    return joined, chunks


def run(engine_or_pkg, n, prompt="door slam", seeds=(5,), start=0, **kw):
    req = GenerateRequest(video=kw.pop("video", None), start=start, end=start + n,
                          prompt=prompt, negative=kw.pop("negative", "noisy harsh"),
                          seeds=list(seeds), **kw)
    if isinstance(engine_or_pkg, Engine):
        return generate(req, engine=engine_or_pkg)
    return generate(req, package=engine_or_pkg, provider="cpu")


# ---------------------------------------------------------------- closed forms

@pytest.mark.parametrize("method", ["euler", "heun"])
def test_single_window_matches_closed_form(pkg, engine, method):
    n = 72000                                  # 1.5 s: one 2 s window, trimmed
    take = run(engine, n, sampler=method, guidance=2.5).takes[0]
    ref, _ = reference(pkg, "door slam", "noisy harsh", 5, n, 2.5)
    expected, _ = post.finish(ref.astype(np.float32))
    assert len(take.audio) == n
    np.testing.assert_allclose(take.audio, expected, atol=2e-4)
    assert np.abs(take.audio).max() > 0.05


def test_long_segment_matches_closed_form_across_windows(pkg, engine):
    n = 5 * SR + 123
    result = run(engine, n, guidance=1.5)
    assert result.windows == 3
    ref, _ = reference(pkg, "door slam", "noisy harsh", 5, n, 1.5)
    expected, _ = post.finish(ref.astype(np.float32))
    np.testing.assert_allclose(result.takes[0].audio, expected, atol=2e-4)


def test_package_output_filter_is_applied_per_window_before_decoding(tmp_path):
    """latent_median in the manifest: each window's latent is median-filtered over time before
    the decoder; the next window still continues from the unfiltered latent."""
    from foley_desktop.engine import sampler

    pkg = testpkg.build(tmp_path / "median", alpha=ALPHA)
    m = json.loads((pkg / "manifest.json").read_text())
    m["sampler"]["latent_median"] = 5
    (pkg / "manifest.json").write_text(json.dumps(m))
    n = 5 * SR + 123
    result = run(Engine(pkg, precision="fp32", provider="cpu"), n, guidance=1.5)
    assert result.windows == 3
    tc, tu = text_target(pkg, "door slam"), text_target(pkg, "noisy harsh")
    plan = windows.plan(math.ceil(n / 480), 200, 40)
    lat = tu + 1.5 * (tc - tu) + ALPHA * noise(5, plan.total_frames)
    chunks = [testpkg.carrier_decode(sampler.median_over_time(lat[:, f: f + 200], 5), 480, SR)
              for f in plan.starts]
    expected, _ = post.finish(windows.join(chunks, 160 * 480, 40 * 480)[:n].astype(np.float32))
    np.testing.assert_allclose(result.takes[0].audio, expected, atol=2e-4)
    unfiltered, _ = reference(pkg, "door slam", "noisy harsh", 5, n, 1.5)
    assert np.abs(result.takes[0].audio - post.finish(unfiltered.astype(np.float32))[0]).max() > 0.01


def test_prompt_and_negative_change_the_result(engine):
    a = run(engine, 24000).takes[0].audio
    b = run(engine, 24000, prompt="water splash").takes[0].audio
    c = run(engine, 24000, negative="quiet").takes[0].audio
    assert not np.allclose(a, b, atol=1e-3) and not np.allclose(a, c, atol=1e-3)


# ---------------------------------------------------------------- lengths, seams

@pytest.mark.parametrize("n", [1, 479, 480, 96000, 96001, 3 * SR + 7])
def test_output_length_is_exact(engine, n):
    take = run(engine, n, start=12345).takes[0]
    assert take.audio.shape == (n,) and take.audio.dtype == np.float32


@pytest.mark.parametrize("n", [1, 15999, 4 * SR + 1])
def test_output_length_is_exact_for_a_16khz_model(tmp_path, n):
    pkg16 = testpkg.build(tmp_path / "p16", sample_rate=16000, hop=160, int8=False)
    take = run(pkg16, n).takes[0]
    assert take.audio.shape == (n,)
    if n > SR:   # resampled to 48 kHz: the 550 Hz carrier is where it belongs
        spec = np.abs(np.fft.rfft(take.audio[:SR]))
        assert abs(int(np.argmax(spec[100:])) + 100 - 220) <= 2 or spec[550] > spec.mean() * 20


def seam_metrics(audio, joins, overlap):
    """Per join: worst 50 ms RMS across the join vs its neighbourhood (dB), and the largest
    jump inside the join relative to the largest one elsewhere. A jump is measured as the
    second difference (how far a sample is from the straight line through its neighbours):
    small for band-limited sound, large for any discontinuity."""
    diffs = np.abs(np.diff(audio.astype(np.float64), 2))
    inside = np.zeros(len(diffs), bool)
    out = []
    for j in joins:
        inside[j - 480: j + overlap + 480] = True
    elsewhere = diffs[~inside].max()
    for j in joins:
        hood = np.r_[audio[j - overlap: j], audio[j + overlap: j + 2 * overlap]]
        ref_db = 10 * math.log10(np.mean(hood.astype(np.float64) ** 2))
        blocks = [audio[i: i + 2400] for i in range(j - 1200, j + overlap + 1200 - 2400, 1200)]
        worst = max(abs(10 * math.log10(np.mean(b.astype(np.float64) ** 2)) - ref_db)
                    for b in blocks)
        jump = diffs[j - 480: j + overlap + 480].max() / elsewhere
        out.append((worst, jump))
    return out


def test_joins_have_no_click_and_no_level_dip(tmp_path):
    # Little seed noise so that the 50 ms RMS of the signal itself varies by < 0.5 dB; the
    # windows' carriers restart at each window, so the two sides of a join are only partly
    # correlated: the case where a plain (sin/cos or linear) crossfade changes the level.
    quiet = testpkg.build(tmp_path / "q", alpha=0.02, int8=False)
    n = 7 * SR
    result = run(quiet, n, guidance=1.0)
    take = result.takes[0]
    step, overlap = 160 * 480, 40 * 480
    assert result.windows == 5
    joins = [k * step for k in range(1, 5)]
    for worst_db, jump in seam_metrics(take.audio, joins, overlap):
        assert worst_db < 1.0
        assert jump < 1.1
    # The measure can fail: the same windows butt-joined click at every join, and a linear
    # crossfade of them dips.
    ref, chunks = reference(quiet, "door slam", "noisy harsh", 5, n, 1.0, alpha=0.02)
    np.testing.assert_allclose(post.finish(ref)[0], take.audio, atol=2e-4)
    h = overlap // 2      # cut in the middle of each overlap
    hard = np.concatenate([chunks[0][:step + h]] + [c[h: step + h] for c in chunks[1:-1]]
                          + [chunks[-1][h:]])[:n]
    assert min(jump for _, jump in seam_metrics(hard, joins, overlap)) > 2.0
    ramp = np.linspace(0, 1, overlap)
    linear = chunks[0].copy()
    for c in chunks[1:]:
        tail = linear[-overlap:] * (1 - ramp) + c[:overlap] * ramp
        linear = np.concatenate([linear[:-overlap], tail, c[overlap:]])
    assert max(db for db, _ in seam_metrics(linear[:n], joins, overlap)) > 1.0


def test_continuation_conditions_each_window_on_the_previous_one(tmp_path):
    # Frames that interact (context) make windows sampled independently disagree in their
    # overlap; continuing each window from the previous one's latent changes every window
    # after the first, and only those. Frame-local models are unaffected.
    coupled = testpkg.build(tmp_path / "ctx", context=0.8, int8=False)
    local = testpkg.build(tmp_path / "local", int8=False)
    first = 160 * 480
    for pkg_, changes in ((coupled, True), (local, False)):
        a, b = (run(pkg_, 5 * SR, continue_windows=c).takes[0].audio for c in (True, False))
        np.testing.assert_allclose(a[:first], b[:first], atol=1e-5)
        assert (np.abs(a[first:] - b[first:]).max() > 0.01) == changes


# ---------------------------------------------------------------- seeds, variations

def test_same_seed_gives_bit_identical_audio_on_cpu(pkg):
    e8 = Engine(pkg, provider="cpu")           # auto: int8 where present
    assert e8.variants["denoiser"] == "int8"
    a = run(e8, 3 * SR, seeds=[11]).takes[0].audio
    b = run(Engine(pkg, provider="cpu"), 3 * SR, seeds=[11]).takes[0].audio
    assert np.array_equal(a, b)
    c = run(e8, 3 * SR, seeds=[12]).takes[0].audio
    assert not np.allclose(a, c, atol=1e-3)


def test_variations_are_a_batch_of_consecutive_seeds(engine):
    res = run(engine, SR, seeds=[3, 4, 5])
    assert [t.seed for t in res.takes] == [3, 4, 5]
    single = run(engine, SR, seeds=[4]).takes[0].audio
    np.testing.assert_allclose(res.takes[1].audio, single, atol=1e-5)
    assert not np.allclose(res.takes[0].audio, res.takes[1].audio, atol=1e-3)
    t = res.takes[0]
    assert (t.model, t.version, t.variant, t.provider) == ("test-analytic", "0.0.1", "fp32", "cpu")
    assert set(t.timings) >= {"text_s", "visual_s", "denoise_s", "decode_s", "post_s", "total_s"}


def test_graph_with_a_fixed_batch_runs_in_chunks(pkg, engine, tmp_path):
    import shutil
    fixed = shutil.copytree(pkg, tmp_path / "fixed")
    m = json.loads((fixed / "manifest.json").read_text())
    den = m["graphs"]["denoiser"]
    for dims in (*den["inputs"].values(), *den["outputs"].values()):
        dims[0] = 2
    (fixed / "manifest.json").write_text(json.dumps(m))
    graph = onnx.load(str(fixed / "denoiser.fp32.onnx"))   # the graph itself takes only B = 2
    for v in (*graph.graph.input, *graph.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(graph, str(fixed / "denoiser.fp32.onnx"))
    testpkg.rehash(fixed)
    e = Engine(fixed, precision="fp32", provider="cpu")
    assert e.sessions["denoiser"].fixed_batch == 2
    for seeds, guidance in (([1, 2, 3], 2.0), ([4], 1.0)):   # 6 rows in 3 runs; 1 row padded
        a = run(e, SR, seeds=seeds, guidance=guidance).takes
        b = run(engine, SR, seeds=seeds, guidance=guidance).takes
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.audio, y.audio, atol=1e-5)


def test_progress_reports_steps_and_eta(engine):
    seen = []
    req = GenerateRequest(None, 0, 4 * SR, "rain", seeds=[1], steps=5, sampler="heun")
    generate(req, engine=engine, progress=seen.append)
    totals = {p.total for p in seen}
    assert totals == {3 * (2 * 5 - 1 + 1)}                # 3 windows x (9 evaluations + decode)
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and dones[-1] == seen[-1].total
    assert any(p.eta_s is not None and p.eta_s > 0 for p in seen[1:-1])
    assert {p.stage for p in seen} >= {"denoising", "decoding"}


def test_loudness_target(engine):
    take = run(engine, 3 * SR, loudness_lufs=-30.0).takes[0]
    assert post.integrated_loudness(take.audio) == pytest.approx(-30.0, abs=0.1)
    assert take.post["true_peak_dbtp"] <= -1.0 + 1e-6


# ---------------------------------------------------------------- cancel, failures, files

def test_cancel_from_another_thread_stops_within_a_step_and_writes_nothing(tmp_path):
    slow = testpkg.build(tmp_path / "slow", slow=24, int8=False)
    out = tmp_path / "out"
    out.mkdir()
    token = CancelToken()
    started = threading.Event()
    seen = []

    def progress(p):
        seen.append((p.stage, p.done, token.cancelled))
        if p.stage == "denoising" and p.done >= 2:
            started.set()
    canceller = threading.Thread(target=lambda: (started.wait(60), token.cancel()))
    canceller.start()
    req = GenerateRequest(None, 0, 5 * SR, "rain", seeds=[1, 2], steps=40)
    with pytest.raises(Cancelled):
        generate_to_files(req, out / "take.wav", package=slow, provider="cpu",
                          progress=progress, cancel=token)
    canceller.join()
    after = [s for s in seen if s[2]]
    assert len(after) <= 1                      # at most the step that was running
    assert seen[-1][1] < 40
    assert list(out.iterdir()) == []


def test_terminate_interrupts_a_running_graph(tmp_path):
    from foley_desktop.engine.package import load_package
    from foley_desktop.engine.providers import choose
    from foley_desktop.engine.session import GraphSession
    slow = load_package(testpkg.build(tmp_path / "slower", slow=400, int8=False))
    sess = GraphSession(slow, "denoiser", "fp32", choose("cpu"))
    feeds = {"x": np.ones((8, 4, 200), np.float32), "t": np.zeros(8, np.float32),
             "text_features": np.ones((8, 8, 8), np.float32),
             "text_mask": np.ones((8, 8), np.int64), "visual": np.zeros((8, 50, 8), np.float32)}
    t0 = time.monotonic()
    sess.run(feeds)
    full = time.monotonic() - t0
    token = CancelToken()
    threading.Timer(full / 10, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        sess.run(feeds, token)
    assert time.monotonic() - t0 < full / 2, (full, time.monotonic() - t0)


def test_nan_from_a_graph_is_an_error_and_nothing_is_written(tmp_path):
    bad = testpkg.build(tmp_path / "nan", kind="nan", int8=False)
    with pytest.raises(GenerationError, match="NaN or Inf in denoiser"):
        generate_to_files(GenerateRequest(None, 0, SR, "rain"), tmp_path / "o.wav",
                          package=bad, provider="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan"]


@pytest.mark.parametrize("kw, message", [
    ({"prompt": "   "}, "prompt is empty"),
    ({"start": SR, "end": SR}, "must be after its start"),
    ({"start": 2 * SR, "end": SR}, "must be after its start"),
    ({"start": -1}, "negative start"),
    ({"steps": 0}, "steps must be within"),
    ({"guidance": 50.0}, "guidance must be within"),
    ({"sampler": "ddim"}, "sampler 'ddim'"),
    ({"seeds": []}, "no seeds"),
])
def test_bad_requests_are_refused(engine, kw, message):
    req = {"video": None, "start": 0, "end": SR, "prompt": "rain", "seeds": [1]}
    req.update(kw)
    with pytest.raises(GenerationError, match=message):
        generate(GenerateRequest(**req), engine=engine)


# ---------------------------------------------------------------- with real video

@pytest.fixture(scope="module")
def media():
    import importlib
    return tuple(importlib.import_module(f"foley_desktop.media.{m}")
                 for m in ("decode", "probe", "wav"))


def visual_target(pkg, clip, start, decode):
    """The denoiser's visual contribution per latent frame for one 2 s window, [C, 200]."""
    frames = decode.read_video_frames(clip, 25, size=(16, 16), start=start, end=start + 2 * SR)
    x = (frames.astype(np.float64) / 255 - 0.5) / 0.5
    feats = np.tanh(x.mean(axis=(1, 2)) @ _inits(pkg / "visual_encoder.fp32.onnx")["w"])
    per_frame = feats[np.arange(200) * 50 // 200]                 # nearest, floor
    return (per_frame @ _inits(pkg / "denoiser.fp32.onnx")["wv"]).T


def test_video_conditioning_matches_the_frames(pkg, engine, clip_tank, media):
    decode, _, _ = media
    start, n = SR + 4800, int(1.5 * SR)
    take = run(engine, n, start=start, video=clip_tank, guidance=2.0).takes[0]
    ref, _ = reference(pkg, "door slam", "noisy harsh", 5, n, 2.0,
                       visual=visual_target(pkg, clip_tank, start, decode))
    expected, _ = post.finish(ref.astype(np.float32))
    assert len(take.audio) == n
    np.testing.assert_allclose(take.audio, expected, atol=5e-4)
    text_only = run(engine, n, start=start, guidance=2.0).takes[0].audio
    assert not np.allclose(take.audio, text_only, atol=1e-3)


def test_long_video_segment_reaching_the_clip_end(engine, clip_tank, media):
    _, probe, _ = media
    end = probe.probe(clip_tank).duration_samples
    take = run(engine, end - SR // 2, start=SR // 2, video=clip_tank).takes[0]
    assert len(take.audio) == end - SR // 2 and np.isfinite(take.audio).all()


def test_segment_outside_the_clip_is_refused(engine, clip_tank, media):
    _, probe, _ = media
    end = probe.probe(clip_tank).duration_samples
    with pytest.raises(GenerationError, match="outside the clip"):
        run(engine, SR, start=end - SR // 2, video=clip_tank)


def test_audio_only_input_is_text_only(engine, tmp_path, media):
    _, _, wav = media
    path = tmp_path / "voice.wav"
    wav.write_wav(path, np.zeros(3 * SR, np.float32), SR)
    a = run(engine, 2 * SR, video=path).takes[0].audio
    b = run(engine, 2 * SR).takes[0].audio
    assert np.array_equal(a, b)
