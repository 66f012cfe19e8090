"""Static calibration runs the real pipeline: the denoiser's calibration inputs are the actual
noisy states of every sampler step (checked against the sampler's own update rule), one
recorded run per step per clip, and the static quantizer consumes exactly those."""

from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.engine import sampler, testpkg
from foley_desktop.engine.package import load_package
from foley_desktop.quantize import calibrate, measure, static

STEPS = 3


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return load_package(testpkg.build(tmp_path_factory.mktemp("cal") / "p", steps=STEPS,
                                      guidance=2.0))


@pytest.fixture(scope="module")
def cal(pkg, clip_tank, clip_phone):
    clips = calibrate.clip_specs([clip_tank, clip_phone], ["engine idle", "door slam"])
    return calibrate.capture(pkg, clips, seeds=(5,))


def test_one_denoiser_sample_per_step_per_clip(pkg, cal):
    assert cal.steps == STEPS
    assert cal.count("denoiser") == STEPS * 2 == calibrate.expected_denoiser_runs(cal, pkg)
    assert cal.count("visual_encoder") == 2          # one window per clip, real frames
    frames = cal.samples["visual_encoder"][0]["frames"]
    assert frames.shape[:3] == (1, 50, 3) and frames.std() > 0.05   # 2 s at 25 fps, a picture
    # The text encoder runs once per text (prompt, negative: encoded alone, see
    # engine.generate.encode_texts), so each calibration sample is one text as in use.
    assert cal.count("decoder") == 2 and cal.count("text_encoder") == 4
    assert all(len(s["input_ids"]) == 1 for s in cal.samples["text_encoder"])


def test_recorded_states_are_the_sampler_trajectory(pkg, cal):
    cfg = sampler.SamplerConfig(steps=STEPS, guidance=2.0)
    times = cfg.graph_times()
    fp32 = measure.session(pkg.graph_file("denoiser", "fp32"))
    for c in range(2):
        runs = cal.samples["denoiser"][c * STEPS:(c + 1) * STEPS]
        # Step 0 is the seed's initial noise (cond and uncond rows alike).
        noise = sampler.initial_noise(5, (pkg.window_frames, pkg.latent_channels)).T
        np.testing.assert_array_equal(runs[0]["x"][0], noise)
        np.testing.assert_array_equal(runs[0]["x"][1], noise)
        for k, feeds in enumerate(runs):
            np.testing.assert_allclose(feeds["t"], times[k], rtol=0, atol=1e-7)
            if k + 1 < STEPS:
                # x_{k+1} = x_k + (t_{k+1} - t_k) (v_u + g (v_c - v_u)) with the graph's v.
                v = measure.run(fp32, feeds)[0].astype(np.float64)
                guided = v[1] + 2.0 * (v[0] - v[1])
                want = feeds["x"][0] + (times[k + 1] - times[k]) * guided
                np.testing.assert_allclose(runs[k + 1]["x"][0], want, atol=1e-4)
        # Different clips: different text and pictures in the conditional row.
        assert runs[0]["visual"].shape[0] == 2
    a, b = cal.samples["denoiser"][0], cal.samples["denoiser"][STEPS]
    assert not np.array_equal(a["visual"][0], b["visual"][0])
    assert not np.array_equal(a["text_features"][0], b["text_features"][0])


def test_static_quantizer_reads_every_recorded_state(pkg, cal, tmp_path):
    src = pkg.graph_file("denoiser", "fp32")
    details = static.quantize(src, tmp_path / "d.onnx", cal.samples["denoiser"])
    assert details["calibration_samples"] == STEPS * 2
    assert measure.quantized_nodes(tmp_path / "d.onnx") > 0


def test_text_only_calibration_without_clips(pkg):
    cal = calibrate.capture(pkg, calibrate.clip_specs([], None), steps=2)
    assert cal.count("denoiser") == 2 * len(cal.clips)
    assert cal.count("visual_encoder") == 0
