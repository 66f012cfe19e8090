"""The converter against the *official* HunyuanVideo-Foley code.

tests/data/hunyuan_goldens/*.npz were written by scripts/make_hunyuan_goldens.py, which runs
the official repository's own model, VAE and sampler (`denoise_process`) on tiny
configurations with seeded random non-zero weights. Here the same weights go through the
project's converter (`export_denoiser`, `export_decoder`) and the converted graphs, and the
engine's sampler over them, must reproduce the official outputs.

Needs the train extra (torch); skipped with the reason otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion tests need the train extra (torch)")

from foley_desktop.convert import export as ex
from foley_desktop.convert.config import load_config
from foley_desktop.convert.convert import export_decoder, export_denoiser

GOLDENS = Path(__file__).parent / "data" / "hunyuan_goldens"
FP32_TOL = 1e-5          # relative L2 of a float32 graph against the official float32 result
FP16_TOL = 1e-3          # the same for the float16 variant (measured ~4e-4)
FP16_FRAME_TOL = 5e-3    # and for its worst latent frame (measured <= 1.8e-3)


def rel_l2(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _weights(z, prefix: str = "") -> dict:
    """The checkpoint exactly as the golden script made it: offset + int8 code * step."""
    out = {}
    for k in z.files:
        if k.startswith(prefix + "w/"):
            n = k[len(prefix) + 2:]
            step, offset = np.float32(z[f"{prefix}s/{n}"]), np.float32(z[f"{prefix}o/{n}"])
            out[n] = torch.from_numpy((offset + z[k].astype(np.float32) * step).astype(np.float32))
    return out


def _cases(z) -> list[str]:
    return sorted({k.split("/")[1] for k in z.files if k.startswith("v/")})


CONFIGS = sorted(p.stem for p in GOLDENS.glob("*.npz"))
CASES = [(c, case) for c in CONFIGS for case in _cases(np.load(GOLDENS / f"{c}.npz"))]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each golden checkpoint converted by the project: the denoiser with and without the
    Synchformer stream, and (where the golden has one) the VAE decoder."""
    out = {}
    for name in CONFIGS:
        z = np.load(GOLDENS / f"{name}.npz")
        root = tmp_path_factory.mktemp(name)
        (root / "config.yaml").write_text(str(z["config_yaml"]))
        cfg = load_config(root / "config.yaml")
        torch.save(_weights(z), root / "hunyuanvideo_foley.pth")
        entry = {"z": z, "cfg": cfg, "report": {}}
        for sync in (True, False):
            graph = root / f"denoiser_sync_{'on' if sync else 'off'}.onnx"
            entry["uncond"] = export_denoiser(cfg, root / "hunyuanvideo_foley.pth", graph, entry["report"], sync)
            entry[sync] = graph
        if "dac/kwargs" in z.files:
            import ast

            torch.save({"state_dict": _weights(z, "dac/"),
                        "metadata": {"kwargs": ast.literal_eval(str(z["dac/kwargs"]))}},
                       root / "vae_128d_48k.pth")
            entry["hop"] = export_decoder(root / "vae_128d_48k.pth", root / "decoder.onnx", entry["report"])
            entry["decoder"] = root / "decoder.onnx"
        out[name] = entry
    return out


def test_goldens_are_small_and_from_the_official_code():
    sizes = [p.stat().st_size for p in GOLDENS.glob("*.npz")]
    assert len(sizes) >= 2 and max(sizes) < 1 << 20 and sum(sizes) <= 5 << 20
    for name in CONFIGS:
        z = np.load(GOLDENS / f"{name}.npz")
        # non-zero weights everywhere, the final layer's (unused) modulation included
        w = _weights(z)
        assert all(float(v.abs().max()) > 0 for v in w.values())
        assert float(w["final_layer.adaLN_modulation.1.weight"].abs().mean()) > 1e-3


@pytest.mark.parametrize("config,case", CASES)
def test_denoiser_graph_matches_official(converted, config, case):
    e = converted[config]
    z = e["z"]
    g = {k: z[f"v/{case}/{k}"] for k in ("x", "t", "text", "text_mask", "clip", "sync", "velocity")}
    sync_off = f"v/{case}/sync_off" in z.files
    feeds = {"x": g["x"], "t": g["t"], "text_features": g["text"], "text_mask": g["text_mask"],
             "siglip2": g["clip"]}
    if not sync_off:
        feeds["synchformer"] = g["sync"]
    got = ex.run_graph(e[not sync_off], feeds)[0]
    assert got.shape == g["velocity"].shape
    assert rel_l2(got, g["velocity"]) <= FP32_TOL, (config, case, rel_l2(got, g["velocity"]))


@pytest.mark.parametrize("config,case", [c for c in CASES if c[1] in ("b2_odd_lengths", "sync_off", "masked_text")])
def test_fp16_denoiser_has_no_outlier_frames(converted, config, case, tmp_path):
    """The float16 variant against the official float32 result, overall and frame by frame:
    the sinusoid and resampling-index chains stay float32 end to end (stream._drop_round_trips),
    so no frame takes a wrong sync feature or a wrong RoPE phase."""
    e = converted[config]
    z = e["z"]
    sync_off = f"v/{case}/sync_off" in z.files
    half = ex.to_fp16(e[not sync_off], tmp_path / "half.onnx")
    g = {k: z[f"v/{case}/{k}"] for k in ("x", "t", "text", "text_mask", "clip", "sync", "velocity")}
    feeds = {"x": g["x"], "t": g["t"], "text_features": g["text"], "text_mask": g["text_mask"],
             "siglip2": g["clip"]} | ({} if sync_off else {"synchformer": g["sync"]})
    got = ex.run_graph(half, feeds)[0]
    want = g["velocity"]
    assert rel_l2(got, want) <= FP16_TOL
    per_frame = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    assert per_frame.max() <= FP16_FRAME_TOL


def test_int8_recipes_against_official(converted, tmp_path):
    """The converter's INT8 recipes on the official goldens: per-channel 7-bit (shipped) within
    a few percent, full-range 8-bit closer still, the previous per-tensor form the furthest."""
    e = converted["tiny_a"]
    z = e["z"]
    case = "b2_odd_lengths"
    g = {k: z[f"v/{case}/{k}"] for k in ("x", "t", "text", "text_mask", "clip", "sync", "velocity")}
    feeds = {"x": g["x"], "t": g["t"], "text_features": g["text"], "text_mask": g["text_mask"],
             "siglip2": g["clip"], "synchformer": g["sync"]}
    errs = {}
    for recipe in ("int8", "int8-8bit", "int8-unfused"):
        q = ex.to_int8(e[True], tmp_path / f"{recipe}.onnx", recipe=recipe)
        errs[recipe] = rel_l2(ex.run_graph(q, feeds)[0], g["velocity"])
    assert errs["int8-8bit"] < errs["int8"] < errs["int8-unfused"] < 0.1, errs


def test_decoder_graph_matches_official_dac(converted):
    e = converted["tiny_a"]
    z = e["z"]
    assert e["hop"] == 960
    got = ex.run_graph(e["decoder"], {"latent": z["dac/latent"]})[0]
    want = z["dac/audio"][:, 0]
    assert got.shape == want.shape
    assert rel_l2(got, want) <= FP32_TOL
    # the golden audio has a DC offset on random weights: its variation must match as well
    assert rel_l2(got - got.mean(), want - want.mean()) <= FP32_TOL


def test_engine_sampler_matches_official_denoise_process(converted):
    """The engine's Euler/CFG sampler over the converted graph against the official
    `denoise_process` (10 steps, guidance 4.5): every intermediate state, the final latent,
    and the audio of the converted decoder."""
    import onnxruntime as ort

    from foley_desktop.engine.sampler import SamplerConfig, sample

    e = converted["tiny_a"]
    z = e["z"]
    sess = ort.InferenceSession(str(e[True]), providers=["CPUExecutionProvider"])
    text = np.concatenate([z["sampler/text"], z["sampler/uncond_text"]])
    clip = z["sampler/siglip2"]
    sync = z["sampler/synchformer"]
    empty_clip = np.broadcast_to(e["uncond"]["siglip2"], clip.shape)
    empty_sync = np.broadcast_to(e["uncond"]["synchformer"], sync.shape)
    # the engine batches the conditional row first; the official code the unconditional one
    feeds = {"text_features": text, "text_mask": np.ones(text.shape[:2], np.float32),
             "siglip2": np.concatenate([clip, empty_clip]), "synchformer": np.concatenate([sync, empty_sync])}
    states = []

    def denoise(xb, tb):
        states.append(xb[:1].copy())
        return sess.run(None, {"x": xb, "t": tb, **feeds})[0]

    scfg = SamplerConfig(method="euler", steps=int(z["sampler/steps"]), guidance=float(z["sampler/guidance"]),
                         time="data_to_noise", timestep_scale=1000.0, shift=1.0)
    out = sample(denoise, z["sampler/noise"].copy(), scfg, guided=True)
    official = z["sampler/states"]
    assert len(states) == len(official) == 10
    for i, (mine, theirs) in enumerate(zip(states, official)):
        assert rel_l2(mine, theirs) <= FP32_TOL, (i, rel_l2(mine, theirs))
    assert rel_l2(out, z["sampler/latent"]) <= FP32_TOL
    audio = ex.run_graph(e["decoder"], {"latent": out.astype(np.float32)})[0]
    want = z["sampler/audio"][:, 0]
    assert rel_l2(audio[:, :want.shape[1]], want) <= FP32_TOL
