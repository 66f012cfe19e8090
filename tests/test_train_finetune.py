"""Fine-tuning additions of foley_desktop/train: onset loss weights, mixing a second rendered set
into the batches (one set must give exactly the original batches), recovering torch weights from
a package's FP32 graphs, and the sampler's and engine's separate visual guidance. The training
tests need torch (the `train` extra) and are skipped without it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from foley_desktop.engine import sampler

PACKAGE = Path(__file__).resolve().parents[1] / "resources/models/foley-tiny"


# ----- sampler: separate visual guidance ------------------------------------------------------
SEEDS = 2


def _constant_denoiser(rows_seen):
    """v is a constant per row group: conditional 5, prompt-only 2 (three groups only),
    unconditional 1; records the batch sizes it was called with."""
    def den(x, t):
        rows_seen.append(len(x))
        groups = [5.0, 2.0, 1.0] if len(x) == 3 * SEEDS else [5.0, 1.0]
        return np.concatenate([np.full((SEEDS, *x.shape[1:]), g, np.float32) for g in groups])
    return den


def test_visual_guidance_combines_three_rows():
    seen: list[int] = []
    noise = np.zeros((SEEDS, 3, 4), np.float32)
    cfg = sampler.SamplerConfig(steps=1, guidance=3.0, visual_guidance=2.0)
    assert cfg.rows_per_seed(True) == 3 and cfg.rows_per_seed(False) == 1
    out = sampler.sample(_constant_denoiser(seen), noise, cfg, guided=True)
    assert seen == [3 * SEEDS]
    # v = u + g (p - u) + g_v (c - p) = 1 + 3 (2 - 1) + 2 (5 - 2) = 10; one step of length 1.
    np.testing.assert_allclose(out, 10.0)


def test_visual_guidance_stops_below_its_noise_level():
    """visual_guidance_until 0.75 with two steps (noise levels 1 and 0.5): g_v 2 at the first
    evaluation, weight 1 on the picture at the second."""
    noise = np.zeros((SEEDS, 3, 4), np.float32)
    cfg = sampler.SamplerConfig(steps=2, guidance=3.0, visual_guidance=2.0,
                                visual_guidance_until=0.75)
    out = sampler.sample(_constant_denoiser([]), noise, cfg, guided=True)
    # 0.5 * (1 + 3 (2 - 1) + 2 (5 - 2)) + 0.5 * (1 + 3 (2 - 1) + 1 (5 - 2)) = 5 + 3.5
    np.testing.assert_allclose(out, 8.5)
    # The time axis the other way round: the same noise levels, the same result.
    flipped = sampler.SamplerConfig(steps=2, guidance=3.0, visual_guidance=2.0,
                                    visual_guidance_until=0.75, time="data_to_noise")
    np.testing.assert_allclose(
        sampler.sample(_constant_denoiser([]), noise, flipped, guided=True), -8.5)
    every = sampler.SamplerConfig(steps=2, guidance=3.0, visual_guidance=2.0)
    np.testing.assert_allclose(
        sampler.sample(_constant_denoiser([]), noise, every, guided=True), 10.0)


def test_without_visual_guidance_the_sampler_is_unchanged():
    seen: list[int] = []
    noise = np.zeros((SEEDS, 3, 4), np.float32)
    cfg = sampler.SamplerConfig(steps=1, guidance=3.0)
    assert cfg.rows_per_seed(True) == 2
    out = sampler.sample(_constant_denoiser(seen), noise, cfg, guided=True)
    assert seen == [2 * SEEDS]
    np.testing.assert_allclose(out, 1.0 + 3.0 * (5.0 - 1.0))


# ----- training additions (need torch) ------------------------------------------------------
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_onset_weights_mark_the_attack_in_crop_coordinates(torch):
    from foley_desktop.train import codec
    from foley_desktop.train.train import onset_weights
    events = [[10 * codec.HOP, 50 * codec.HOP], []]
    w = onset_weights(events, [0, 1], np.array([8, 0]), 40, 3.0, before=2, after=6)
    assert w.shape == (2, 1, 40)
    hot = np.nonzero(w[0, 0].numpy() > 1)[0]
    # event at latent frame 10, crop starts at 8 -> frame 2: frames 0..8; 50 - 8 = 42 is outside.
    assert hot.tolist() == list(range(9))
    assert float(w[0, 0, 0]) == 4.0 and float(w[1].max()) == 1.0


def _set(folder: Path, n: int, seed: int, cls: str, dim: int = 24):
    from foley_desktop.train.text import MAX_TOKENS, UNCOND_CAPTIONS
    rng = np.random.default_rng(seed)
    folder.mkdir()
    np.save(folder / "latents.npy", rng.standard_normal((n, 8, 16)).astype(np.float16))
    np.save(folder / "frames.npy", rng.integers(0, 256, (n, 4, 16, 16, 3), dtype=np.uint8))
    caps = [f"{cls} {i % 2}" for i in range(n)]
    (folder / "meta.json").write_text(json.dumps(
        {"clips": [{"caption": c, "cls": cls, "events": [480 * (i + 1)]} for i, c in enumerate(caps)]}))
    allcaps = sorted(set(caps) | set(UNCOND_CAPTIONS))
    mask = np.ones((len(allcaps), MAX_TOKENS), np.uint8)
    np.savez(folder / "text.npz", caps=np.array(allcaps), mask=mask,
             feats=rng.standard_normal((len(allcaps), MAX_TOKENS, dim)).astype(np.float16))
    return folder


def test_one_source_gives_the_original_batches_and_two_mix(torch, tmp_path):
    from foley_desktop.train.train import Sources, draw_batch, text_table
    a = _set(tmp_path / "a", 10, 0, "x")
    b = _set(tmp_path / "b", 6, 1, "y")
    one = Sources([a], tmp_path, 0.5)
    got, events, offs = one.draw(7, 3, 4, 8)
    lat = np.load(a / "latents.npy", mmap_mode="r")
    frm = np.load(a / "frames.npy", mmap_mode="r")
    ref = draw_batch(7, 3, 4, 8, lat, frm, *text_table(a, tmp_path))
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(r))
    assert len(events) == 4 and offs.shape == (4,)
    two = Sources([a, b], tmp_path, 0.5)
    got2, _, _ = two.draw(7, 3, 4, 8)
    assert got2[5].shape[0] == 4                                  # x1 rows
    # The second half comes from set b: its clips' latents are among b's.
    lat_b = np.load(b / "latents.npy").astype(np.float32)
    rows_b = got2[5][2:].numpy()
    assert all(any(np.allclose(r, lat_b[i, :, k:k + 8]) for i in range(6) for k in (0, 4, 8))
               for r in rows_b)


def test_time_location_moves_only_the_training_times(torch, tmp_path):
    """--t-loc shifts the logit of every drawn time by the same amount and leaves the rest of
    the batch (clips, crops, noise, dropped conditions) as drawn without it; 0 is the default."""
    from foley_desktop.train.train import Sources
    a = _set(tmp_path / "a", 10, 0, "x")
    plain, early = Sources([a], tmp_path, 0.5), Sources([a], tmp_path, 0.5, t_loc=-0.7)
    for step in (0, 5):
        ref, _, _ = plain.draw(step, 3, 4, 8)
        got, _, _ = early.draw(step, 3, 4, 8)
        for k in (0, 1, 2, 4, 5, 7):                  # frames, text, mask, noise, target, drop_v
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(ref[k]))
        logit = lambda t: np.log(t / (1 - t))
        np.testing.assert_allclose(logit(got[3].numpy()), logit(ref[3].numpy()) - 0.7, atol=1e-4)
        t = got[3][:, None, None]
        np.testing.assert_allclose(got[6].numpy(), ((1 - t) * got[4] + t * got[5]).numpy(),
                                   atol=1e-6)


@pytest.mark.skipif(not (PACKAGE / "text_encoder.int8.onnx").exists(), reason="no shipped package")
def test_caption_swap_rewrites_kept_captions_only(torch, tmp_path):
    """Swapped rows get the shipped text graph's features of a paraphrase of the same class;
    dropped (unconditional) rows and everything else in the batch stay as without the swap."""
    from foley_desktop.train.captions import pools
    from foley_desktop.train.text import UNCOND_CAPTIONS, caption_features
    from foley_desktop.train.train import Sources
    a = _set(tmp_path / "a", 12, 0, "footsteps_gravel", dim=384)
    plain = Sources([a], PACKAGE, 0.5)
    swap = Sources([a], PACKAGE, 0.5, caption_swap=1.0)
    for step in (3, 4):
        ref, _, _ = plain.draw(step, 5, 8, 8)
        got, _, _ = swap.draw(step, 5, 8, 8)
        for k in (0, 3, 4, 5, 6, 7):                       # frames, t, noise, target, x_t, drop_v
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(ref[k]))
        changed = [r for r in range(8) if not torch.equal(got[1][r], ref[1][r])]
        assert changed, "nothing swapped"
        by_text = {t: f for t, (f, _) in swap.encode.cache.items()}
        assert set(by_text) <= set(pools()["footsteps_gravel"])
        for r in changed:
            assert any(torch.equal(got[1][r], f) for f in by_text.values())
        # Unchanged rows are exactly the unconditional ones (caption dropped), kept as drawn.
        uncond = [torch.from_numpy(z.astype(np.float32)) for z, c in
                  zip(np.load(a / "text.npz")["feats"], np.load(a / "text.npz")["caps"])
                  if c in UNCOND_CAPTIONS]
        for r in set(range(8)) - set(changed):
            assert any(torch.equal(ref[1][r], u) for u in uncond)
    text = next(iter(swap.encode.cache))
    f, _ = caption_features(PACKAGE / "text_encoder.int8.onnx", PACKAGE / "tokenizer.json", [text])
    np.testing.assert_array_equal(swap.encode.cache[text][0].numpy(), f[0].astype(np.float32))
    # Deterministic: a fresh source draws the same swapped batch.
    again, _, _ = Sources([a], PACKAGE, 0.5, caption_swap=1.0).draw(4, 5, 8, 8)
    np.testing.assert_array_equal(again[1].numpy(), got[1].numpy())


@pytest.mark.skipif(not (PACKAGE / "denoiser.fp32.onnx").exists(), reason="no shipped package")
def test_recovered_weights_reproduce_the_shipped_graphs(torch):
    pytest.importorskip("onnx")
    from foley_desktop.train.recover import check, recover
    torch.set_num_threads(1)
    model = recover(PACKAGE)
    c = check(model, PACKAGE)
    assert c["denoiser_max_abs"] < 1e-3 * max(1.0, c["denoiser_rms"])
    assert c["visual_max_abs"] < 1e-3


# ----- engine: separate visual guidance end to end (analytic package, closed form) -----------
@pytest.fixture(scope="module")
def analytic(tmp_path_factory):
    from foley_desktop.engine import testpkg
    from foley_desktop.engine.generate import Engine
    pkg = testpkg.build(tmp_path_factory.mktemp("vg") / "analytic", alpha=0.3)
    return pkg, Engine(pkg, precision="fp32", provider="cpu")


def test_engine_visual_guidance_matches_closed_form(analytic, clip_tank):
    """The analytic denoiser's target is affine in its conditions, so the sampled latent is
    T_u + g (T_p - T_u) + g_v (T_c - T_p) + alpha n: the text part scaled by g, the visual
    part (zero unconditional visual features) by g_v."""
    import importlib

    from test_engine_generate import reference, run, visual_target

    from foley_desktop.engine import post
    pkg, engine = analytic
    decode = importlib.import_module("foley_desktop.media.decode")
    start, n = 48000 + 4800, int(1.5 * 48000)
    res = run(engine, n, start=start, video=clip_tank, guidance=2.0, visual_guidance=5.0)
    assert res.visual_guidance == 5.0 and res.to_dict()["visual_guidance"] == 5.0
    vis = visual_target(pkg, clip_tank, start, decode)
    ref, _ = reference(pkg, "door slam", "noisy harsh", 5, n, 2.0, visual=vis * 5.0 / 2.0)
    expected, _ = post.finish(ref.astype(np.float32))
    np.testing.assert_allclose(res.takes[0].audio, expected, atol=5e-4)
    # Without it (and with it equal to the guidance) the two-row result is unchanged.
    plain = run(engine, n, start=start, video=clip_tank, guidance=2.0)
    assert plain.visual_guidance is None and "visual_guidance" not in plain.to_dict()
    same = run(engine, n, start=start, video=clip_tank, guidance=2.0, visual_guidance=2.0)
    np.testing.assert_allclose(same.takes[0].audio, plain.takes[0].audio, atol=5e-4)
    assert not np.allclose(res.takes[0].audio, plain.takes[0].audio, atol=1e-3)


def test_engine_reads_the_visual_guidance_interval_from_the_manifest(tmp_path, clip_tank):
    """sampler.visual_guidance_until in the manifest reaches the sampler: 0 gives the
    every-step result, a level near 1 (g_v at the first evaluation only) another one."""
    from test_engine_generate import run

    from foley_desktop.engine import testpkg
    from foley_desktop.engine.generate import Engine
    out = {}
    for until in (0.0, 0.99):
        pkg = testpkg.build(tmp_path / f"u{until}", alpha=0.3)
        m = json.loads((pkg / "manifest.json").read_text())
        m["sampler"]["visual_guidance_until"] = until
        (pkg / "manifest.json").write_text(json.dumps(m))
        engine = Engine(pkg, precision="fp32", provider="cpu")
        res = run(engine, 48000, start=48000, video=clip_tank, guidance=2.0,
                  visual_guidance=5.0)
        out[until] = res.takes[0].audio
        # Reported with the take when it limits the guidance, so the take says how it was made.
        assert res.to_dict().get("visual_guidance_until") == (until or None)
    plain_pkg = testpkg.build(tmp_path / "plain", alpha=0.3)
    plain = run(Engine(plain_pkg, precision="fp32", provider="cpu"), 48000, start=48000,
                video=clip_tank, guidance=2.0, visual_guidance=5.0).takes[0].audio
    np.testing.assert_array_equal(out[0.0], plain)
    assert np.abs(out[0.99] - plain).max() > 1e-3


def test_engine_visual_guidance_is_checked_and_skipped_without_video(analytic):
    from test_engine_generate import run

    from foley_desktop.errors import GenerationError
    _, engine = analytic
    with pytest.raises(GenerationError, match="visual guidance"):
        run(engine, 48000, guidance=2.0, visual_guidance=50.0)
    text_only = run(engine, 48000, guidance=2.0, visual_guidance=5.0)
    assert text_only.visual_guidance is None
    np.testing.assert_array_equal(text_only.takes[0].audio,
                                  run(engine, 48000, guidance=2.0).takes[0].audio)
