"""HunyuanVideo-Foley conversion: a tiny configuration of the same architecture with random
weights, saved under the reference's key names, goes through `convert` and then the engine.

Needs the train extra (torch, transformers); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion tests need the train extra (torch)")
pytest.importorskip("transformers", reason="conversion tests need the train extra (transformers)")

from foley_desktop.convert import export as ex
from foley_desktop.convert.config import ConvertError, load_config, variant_config
from foley_desktop.convert.convert import ConvertOptions, convert
from foley_desktop.convert.dac_decoder import DacDecoder, build_decoder, decoder_state
from foley_desktop.convert.hunyuan_model import (
    DenoiserForExport,
    HunyuanFoleyDenoiser,
    conv_mlp_hidden,
    nearest_exact_index,
)

TINY_YAML = """\
model_config:
  model_name: Tiny-Foley
  model_type: 1d
  model_precision: bf16
  model_kwargs:
    depth_triple_blocks: 2
    depth_single_blocks: 2
    hidden_size: 48
    num_heads: 3
    mlp_ratio: 4
    mlp_act_type: "gelu_tanh"
    qkv_bias: True
    qk_norm: True
    qk_norm_type: "rms"
    attn_mode: "torch"
    interleaved_audio_visual_rope: True
    enable_learnable_empty_visual_feat: True
    sync_modulation: False
    add_sync_feat_to_audio: True
    cross_attention: True
    use_attention_mask: False
    condition_projection: "linear"
    sync_feat_dim: 24
    condition_dim: 32
    clip_dim: 16
    audio_vae_latent_dim: 8
    audio_frame_rate: 50
    patch_size: 1
    rope_dim_list: null
    text_length: 77
    clip_length: 64
    sync_length: 192
diffusion_config:
  denoise_type: "flow"
"""
WORDS = ["footsteps", "on", "gravel", "noisy", "harsh", "a", "tank", "engine", "rumble", "door"]


def _randomize(module, seed, std=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)


def _write_clap(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import ClapTextConfig, ClapTextModelWithProjection

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}, ",": 14}
    cfg = ClapTextConfig(vocab_size=len(vocab) + 1, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=90, projection_dim=16, pad_token_id=1)
    torch.manual_seed(3)
    ClapTextModelWithProjection(cfg).eval().save_pretrained(str(folder))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.save(str(folder / "tokenizer.json"))


def _write_siglip(folder):
    from transformers import SiglipConfig, SiglipModel

    text = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "bos_token_id": None, "eos_token_id": None}
    vision = {"image_size": 32, "patch_size": 16, "hidden_size": 16, "num_hidden_layers": 2,
              "num_attention_heads": 2, "intermediate_size": 32}
    cfg = SiglipConfig(text_config=text, vision_config=vision)
    torch.manual_seed(4)
    SiglipModel(cfg).eval().save_pretrained(str(folder))


def _tiny_vae():
    """A decoder of the DAC family with hop 960 (rates 8,5,4,3,2) and a 8-channel latent."""
    dec = DacDecoder(8, 64, [8, 5, 4, 3, 2])
    _randomize(dec, 5, 0.15)
    with torch.no_grad():
        for m in dec.modules():
            if hasattr(m, "alpha"):
                m.alpha.uniform_(0.5, 1.5)
    return dec.eval()


def _reference_vae_checkpoint(dec):
    """The decoder's weights as the reference stores them: weight-normalised convs
    (weight_g, weight_v) inside audiotools' {"state_dict", "metadata"} layout, with encoder keys."""
    state = {}
    g = torch.Generator().manual_seed(6)
    for k, v in dec.state_dict().items():
        if k.endswith(".weight") and v.dim() == 3 and not k.startswith("post_quant_conv"):
            scale = torch.rand(v.shape[0], 1, 1, generator=g) + 0.5
            state[k[:-7] + ".weight_v"] = v * scale
            state[k[:-7] + ".weight_g"] = (v * scale).flatten(1).norm(dim=1).reshape(-1, 1, 1) / scale
            continue
        state[k] = v
    state["encoder.block.0.weight_v"] = torch.randn(4, 1, 7)
    state["quant_conv.weight"] = torch.randn(16, 8, 1)
    return {"state_dict": state, "metadata": {"kwargs": {"latent_dim": 8, "continuous": True}}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunyuan")
    (root / "tiny.yaml").write_text(TINY_YAML)
    cfg = load_config(root / "tiny.yaml")
    model = HunyuanFoleyDenoiser(cfg)
    _randomize(model, 1)
    state = dict(model.state_dict())
    state["ssl_encoder.blocks.0.weight"] = torch.zeros(3)   # training-only keys are ignored
    ck = root / "ckpt"
    ck.mkdir()
    torch.save({k: v.to(torch.bfloat16) if k != "ssl_encoder.blocks.0.weight" else v for k, v in state.items()},
               ck / "hunyuanvideo_foley.pth")
    # the converter reads the bf16 checkpoint; compare against the same rounded weights
    model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
    vae = _tiny_vae()
    torch.save(_reference_vae_checkpoint(vae), ck / "vae_128d_48k.pth")
    _write_clap(root / "clap")
    _write_siglip(root / "siglip2")
    opts = ConvertOptions(checkpoint_dir=ck, output=root / "pkg", config=root / "tiny.yaml",
                          siglip2=root / "siglip2", clap=root / "clap", precisions=("fp16", "int8", "int8-8bit"))
    stages = []
    pkg = convert(opts, progress=lambda p: stages.append(p.stage))
    return {"root": root, "cfg": cfg, "model": model.eval(), "vae": vae, "pkg": pkg, "opts": opts,
            "stages": stages}


# ---------------------------------------------------------------- architecture facts


def test_published_shapes_key_for_key():
    """Names and shapes of the XXL/XL state dicts follow the reference's module definitions."""
    for name in ("xxl", "xl"):
        cfg = variant_config(name)
        with torch.device("meta"):
            m = HunyuanFoleyDenoiser(cfg)
        sd = m.state_dict()
        h = cfg.hidden_size
        expect = {
            "audio_embedder.proj.weight": (h, 128, 1), "visual_proj.w1.weight": (h, 768),
            "visual_proj.w2.weight": (h, h), "visual_proj.w3.weight": (h, 768),
            "cond_in.linear_1.weight": (h, 768), "cond_in.linear_2.weight": (h, h),
            "time_in.mlp.0.weight": (h, 256), "time_in.mlp.2.weight": (h, h),
            "sync_in.0.weight": (h, 768), "sync_in.2.w1.weight": (conv_mlp_hidden(4 * h), h, 1),
            "sync_in.2.w2.weight": (h, conv_mlp_hidden(4 * h), 1), "sync_pos_emb": (1, 1, 8, 768),
            "final_layer.linear.weight": (128, h), "final_layer.adaLN_modulation.1.weight": (2 * h, h),
            "empty_clip_feat": (1, 768), "empty_sync_feat": (1, 768),
            "triple_blocks.0.audio_mod.linear.weight": (9 * h, h),
            "triple_blocks.0.audio_self_attn_qkv.weight": (3 * h, h),
            "triple_blocks.0.audio_self_q_norm.weight": (h // cfg.num_heads,),
            "triple_blocks.0.v_cond_attn_qkv.bias": (3 * h,),
            "triple_blocks.0.text_cross_kv.weight": (2 * h, h),
            "triple_blocks.0.audio_mlp.fc1.weight": (4 * h, h),
            "single_blocks.0.modulation.linear.weight": (6 * h, h),
            "single_blocks.0.linear_qkv.weight": (3 * h, h), "single_blocks.0.linear1.weight": (h, h, 3),
            "single_blocks.0.linear2.w1.weight": (conv_mlp_hidden(4 * h), h, 3),
            "single_blocks.0.q_norm.weight": (h // cfg.num_heads,),
        }
        for k, shape in expect.items():
            assert tuple(sd[k].shape) == shape, (name, k)
        assert sum(1 for k in sd if k.startswith("triple_blocks.")) == cfg.depth_triple_blocks * 37
        assert sum(1 for k in sd if k.startswith("single_blocks.")) == cfg.depth_single_blocks * 11
        assert f"triple_blocks.{cfg.depth_triple_blocks - 1}.v_cond_mlp.fc2.bias" in sd
        assert f"single_blocks.{cfg.depth_single_blocks - 1}.linear2.w3.weight" in sd
    n = sum(math.prod(v.shape) for v in _meta_params(variant_config("xxl")))
    # the published XXL checkpoint is 10.3 GB in bf16: 5.134e9 values, which these modules
    # account for exactly (2 bytes each)
    assert abs(2 * n / 1e9 - 10.3) < 0.05


def _meta_params(cfg):
    with torch.device("meta"):
        return list(HunyuanFoleyDenoiser(cfg).state_dict().values())


@pytest.mark.parametrize("src,dst", [(120, 750), (750, 120), (7, 13), (13, 7), (192, 400),
                                     (400, 192), (5, 5), (3, 1000)])
def test_nearest_exact_matches_interpolate(src, dst):
    x = torch.arange(src, dtype=torch.float32)[None, None]
    want = torch.nn.functional.interpolate(x, size=dst, mode="nearest-exact")[0, 0].long()
    got = nearest_exact_index(torch.tensor(dst), torch.tensor(src))
    assert torch.equal(got, want)


def test_config_refuses_unsupported_options(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(TINY_YAML.replace("sync_modulation: False", "sync_modulation: True"))
    with pytest.raises(ConvertError, match="sync_modulation"):
        load_config(p)
    p.write_text("model_config: {}\n")
    with pytest.raises(ConvertError, match="model_kwargs"):
        load_config(p)


def test_decoder_folds_weight_norm_exactly():
    dec = _tiny_vae()
    rebuilt = build_decoder(decoder_state(_reference_vae_checkpoint(dec)))
    z = torch.randn(1, 8, 5)
    with torch.no_grad():
        a, b = dec(z), rebuilt(z)
    assert a.shape == (1, 5 * 960)
    assert (a - b).abs().max() < 1e-3   # float rounding of the fold, amplified by 5 blocks


# ---------------------------------------------------------------- the converted package


def test_package_loads_with_all_variants(tiny):
    from foley_desktop.engine.package import load_package

    pkg = load_package(tiny["pkg"])
    pkg.verify_all()
    man = json.loads((tiny["pkg"] / "manifest.json").read_text())
    assert set(man["graphs"]) == {"text_encoder", "siglip2_encoder", "denoiser", "decoder"}
    variants = man["graphs"]["denoiser"]["variants"]
    assert set(variants) == {"fp32", "fp16", "int8", "int8-8bit"}
    # 7-bit weights by default (safe on every CPU); full range only when asked for, and said
    assert variants["int8"]["weight_range"] == 64 and variants["int8-8bit"]["weight_range"] == 127
    assert "int8-8bit" not in man["graphs"]["decoder"]["variants"]
    assert man["latent"] == {"channels": 8, "frame_rate": "50", "hop_samples": 960}
    assert man["sampler"]["time"] == "data_to_noise" and man["sampler"]["timestep_scale"] == 1000.0
    assert man["conversion"]["ignored_checkpoint_keys"] == 1
    assert all(err < 2e-3 for err in tiny["opts"].report["checks"].values())
    assert tiny["stages"][-1] == "done"
    assert not (tiny["root"] / "pkg.partial").exists()


def _denoiser_inputs(cfg, B=3, T=137, L=11, V=22, seed=7):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, L)
    mask[1, 6:] = 0
    if B > 2:
        mask[2, 2:] = 0
    return (torch.randn(B, cfg.audio_vae_latent_dim, T, generator=g), torch.tensor([999.0, 500.0, 20.0])[:B],
            torch.randn(B, L, cfg.condition_dim, generator=g), mask, torch.randn(B, V, cfg.clip_dim, generator=g))


def test_denoiser_graph_matches_pytorch(tiny):
    cfg, model = tiny["cfg"], tiny["model"]
    args = _denoiser_inputs(cfg)
    with torch.no_grad():
        want = DenoiserForExport(model, sync_stream=False)(*args).numpy()
    names = ["x", "t", "text_features", "text_mask", "siglip2"]
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    got = ex.run_graph(tiny["pkg"] / "denoiser.fp32.onnx", feeds)[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()
    half = ex.run_graph(tiny["pkg"] / "denoiser.fp16.onnx", feeds)[0]
    # float16 graphs: agreement in shape, not to float32 precision (random weights of std 0.2
    # make this tiny network far less well-conditioned than a trained one)
    assert np.corrcoef(half.ravel(), want.ravel())[0, 1] > 0.98
    q = ex.run_graph(tiny["pkg"] / "denoiser.int8.onnx", feeds)[0]
    assert np.corrcoef(q.ravel(), want.ravel())[0, 1] > 0.95
    # with a full mask the graph is the reference's computation (no text masking at all)
    full = list(args)
    full[3] = torch.ones_like(args[3])
    with torch.no_grad():
        unmasked = model(full[0], full[1], full[2], full[4],
                         model.empty_sync_feat.expand(3, 8 * ((137 // 2 - 16) // 8 + 1), -1))
        assert torch.allclose(DenoiserForExport(model, False)(*full), unmasked, atol=1e-5)


def test_sync_stream_graph_matches_pytorch(tiny, tmp_path):
    """The denoiser with a Synchformer input (for when that encoder is exported)."""
    cfg, model = tiny["cfg"], tiny["model"]
    args = _denoiser_inputs(cfg, B=2) + (torch.randn(2, 32, cfg.sync_feat_dim),)
    names = ["x", "t", "text_features", "text_mask", "siglip2", "synchformer"]
    ex.export(DenoiserForExport(model, True), tuple(a[:2] for a in _denoiser_inputs(cfg, 2, 60, 5, 9, 1)) +
              (torch.randn(2, 16, cfg.sync_feat_dim),), tmp_path / "d.onnx", names, ["velocity"],
              {n: {0: "B", 1: "L"} if n in ("text_features", "text_mask", "siglip2", "synchformer") else {0: "B"}
               for n in names} | {"x": {0: "B", 2: "F"}})
    with torch.no_grad():
        want = DenoiserForExport(model, True)(*args).numpy()
    got = ex.run_graph(tmp_path / "d.onnx", {n: a.numpy() for n, a in zip(names, args)})[0]
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


def test_decoder_graph_matches_pytorch(tiny):
    z = torch.randn(1, 8, 23)
    with torch.no_grad():
        want = tiny["vae"](z).numpy()
    got = ex.run_graph(tiny["pkg"] / "decoder.fp32.onnx", {"latent": z.numpy()})[0]
    assert got.shape == (1, 23 * 960)
    assert np.abs(got - want).max() < 1e-3
    # the fp16 variant really is float16 (the Snake sinusoids of activations are not kept in
    # float32, which would keep the whole decoder there) and still follows the waveform
    import onnx

    half_file = tiny["pkg"] / "decoder.fp16.onnx"
    inits = onnx.load(str(half_file)).graph.initializer
    n16 = sum(int(np.prod(i.dims)) for i in inits if i.data_type == onnx.TensorProto.FLOAT16)
    assert n16 >= 0.95 * sum(int(np.prod(i.dims)) for i in inits)
    half = ex.run_graph(half_file, {"latent": z.numpy()})[0]
    assert np.corrcoef(half.ravel(), want.ravel())[0, 1] > 0.99


def test_encoders_match_pytorch(tiny):
    from transformers import AutoModel, ClapTextModelWithProjection

    clap = ClapTextModelWithProjection.from_pretrained(str(tiny["root"] / "clap"), attn_implementation="eager").eval()
    ids = np.array([[0, 4, 5, 6, 2, 1, 1, 1], [0, 7, 8, 9, 10, 11, 12, 2]], np.int64)
    mask = (ids != 1).astype(np.int64)
    with torch.no_grad():
        want = clap(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    got = ex.run_graph(tiny["pkg"] / "text_encoder.fp32.onnx", {"input_ids": ids, "attention_mask": mask})[0]
    assert np.abs(got - want).max() < 1e-4
    sig = AutoModel.from_pretrained(str(tiny["root"] / "siglip2"), attn_implementation="eager").eval()
    frames = np.random.default_rng(0).standard_normal((1, 5, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = sig.vision_model(pixel_values=torch.from_numpy(frames[0])).pooler_output.numpy()[None]
    got = ex.run_graph(tiny["pkg"] / "siglip2_encoder.fp32.onnx", {"frames": frames})[0]
    assert got.shape == (1, 5, 16)
    assert np.abs(got - want).max() < 1e-4


def test_sampler_matches_reference_loop(tiny):
    """The engine's sampler over the exported graph follows the reference's loop step for
    step: sigmas linspace(1, 0, n+1), model time sigma*1000, [uncond, cond] batch, CFG,
    x += (sigma_next - sigma) * v (written here in PyTorch after the reference's scheduler)."""
    from foley_desktop.engine.sampler import SamplerConfig, sample

    cfg, model = tiny["cfg"], tiny["model"]
    steps, guidance, T = 10, 4.5, 60
    g = torch.Generator().manual_seed(11)
    noise = torch.randn(1, cfg.audio_vae_latent_dim, T, generator=g)
    text = torch.randn(2, 6, cfg.condition_dim, generator=g)        # [cond, uncond(negative)]
    clip = torch.randn(1, 8, cfg.clip_dim, generator=g)
    empty_clip = model.empty_clip_feat.expand(1, 8, -1)
    empty_sync = model.empty_sync_feat.expand(2, 8 * ((T // 2 - 16) // 8 + 1), -1)

    # reference-style loop (unconditional half first, as the reference batches it)
    x = noise.clone()
    sigmas = torch.linspace(1, 0, steps + 1)
    ref_states = []
    with torch.no_grad():
        for i in range(steps):
            t = (sigmas[i] * 1000).repeat(2)
            v = model(torch.cat([x, x]), t, torch.cat([text[1:], text[:1]]), torch.cat([empty_clip, clip]), empty_sync)
            vu, vc = v.chunk(2)
            x = x + (sigmas[i + 1] - sigmas[i]) * (vu + guidance * (vc - vu))
            ref_states.append(x.numpy().copy())

    # the engine's sampler with the ONNX graph (conditional rows first, as the engine batches)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny["pkg"] / "denoiser.fp32.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"text_features": text.numpy(), "text_mask": np.ones((2, 6), np.float32),
             "siglip2": torch.cat([clip, empty_clip]).detach().numpy()}
    states = []

    def denoise(xb, tb):
        return sess.run(None, {"x": xb, "t": tb, **feeds})[0]

    man = json.loads((tiny["pkg"] / "manifest.json").read_text())["sampler"]
    scfg = SamplerConfig(method="euler", steps=steps, guidance=guidance, time=man["time"],
                         timestep_scale=man["timestep_scale"], shift=man["shift"])
    out = sample(lambda xb, tb: (states.append(xb[:1].copy()), denoise(xb, tb))[1], noise.numpy(), scfg, guided=True)
    # state before step i+1 (engine) == state after step i (reference)
    for i in range(1, steps):
        np.testing.assert_allclose(states[i], ref_states[i - 1], rtol=0, atol=2e-3 * np.abs(ref_states[i - 1]).max())
    np.testing.assert_allclose(out, ref_states[-1], rtol=0, atol=2e-3 * np.abs(ref_states[-1]).max())


def test_generate_40_seconds_through_the_engine(tiny, clip_tank):
    """40 s of text-only generation (3 windows of 15 s), and a take conditioned on a real clip."""
    from foley_desktop.engine.generate import GenerateRequest, generate

    req = GenerateRequest(video=None, start=0, end=40 * 48000, prompt="a tank engine rumble",
                          seeds=[5], steps=10, guidance=4.5)
    res = generate(req, package=tiny["pkg"], precision="fp32", provider="cpu")
    assert res.windows == 3
    audio = res.takes[0].audio
    assert audio.shape == (40 * 48000,) and np.isfinite(audio).all() and np.abs(audio).max() > 1e-4

    req = GenerateRequest(video=clip_tank, start=0, end=3 * 48000, prompt="a tank engine rumble",
                          seeds=[5], steps=10, guidance=4.5)
    with_video = generate(req, package=tiny["pkg"], precision="int8", provider="cpu").takes[0].audio
    req = GenerateRequest(video=None, start=0, end=3 * 48000, prompt="a tank engine rumble",
                          seeds=[5], steps=10, guidance=4.5)
    without = generate(req, package=tiny["pkg"], precision="int8", provider="cpu").takes[0].audio
    assert with_video.shape == without.shape == (3 * 48000,)
    assert not np.allclose(with_video, without)   # the picture changed the result


def test_bad_inputs_are_refused(tiny, tmp_path):
    base = tiny["opts"]
    with pytest.raises(ConvertError, match="already exists"):
        convert(ConvertOptions(**{**base.__dict__, "report": {}}))
    with pytest.raises(ConvertError, match="hunyuanvideo_foley"):
        convert(ConvertOptions(checkpoint_dir=tmp_path, output=tmp_path / "o", variant="xl",
                               siglip2=base.siglip2, clap=base.clap))
    with pytest.raises(ConvertError, match="--variant or --config"):
        convert(ConvertOptions(checkpoint_dir=base.checkpoint_dir, output=tmp_path / "o", variant="xl",
                               config=base.config, siglip2=base.siglip2, clap=base.clap))
    wrong = tmp_path / "wide.yaml"
    wrong.write_text(TINY_YAML.replace("hidden_size: 48", "hidden_size: 96"))
    with pytest.raises(ConvertError, match="shape"):
        convert(ConvertOptions(checkpoint_dir=base.checkpoint_dir, output=tmp_path / "o", config=wrong,
                               siglip2=base.siglip2, clap=base.clap, precisions=()))
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()
