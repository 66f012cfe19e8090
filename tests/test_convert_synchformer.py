"""Synchformer visual features: the module against independent formulations, and its export."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion tests need the train extra (torch)")

from foley_desktop.convert import export as ex
from foley_desktop.convert.config import ConvertError
from foley_desktop.convert.convert import export_synchformer
from foley_desktop.convert.synchformer import (
    ClsAggregator,
    DividedAttention,
    SynchformerVisual,
    from_state_dict,
)


def _random(module, seed, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


def test_aggregator_equals_torch_transformer_layer():
    """The CLS aggregation layer is a pre-norm nn.TransformerEncoderLayer (GELU, eps 1e-6)."""
    dim, heads = 32, 4
    mine = _random(ClsAggregator(dim, heads), 1)
    ref = torch.nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation=torch.nn.GELU(),
                                           batch_first=True, layer_norm_eps=1e-6, norm_first=True).eval()
    sd = {k: v for k, v in mine.state_dict().items() if k != "cls_token"}
    ref.load_state_dict(sd)
    x = torch.randn(5, 7, dim)
    with torch.no_grad():
        want = ref(torch.cat([mine.cls_token.expand(5, -1, -1), x], 1))[:, 0]
        assert torch.allclose(mine(x), want, atol=1e-5)


@pytest.mark.parametrize("along_time", [True, False])
def test_divided_attention_equals_masked_full_attention(along_time):
    """Time (space) attention = full attention where a patch token sees CLS and the tokens at
    its own position (time step), and CLS sees everything."""
    dim, heads, f, n, B = 16, 2, 3, 4, 2
    att = _random(DividedAttention(dim, heads), 2)
    x = torch.randn(B, 1 + f * n, dim)
    with torch.no_grad():
        got = att(x, f, n, along_time)
        q, k, v = (t.reshape(B, -1, heads, dim // heads).transpose(1, 2) for t in att.qkv(x).chunk(3, -1))
        N = 1 + f * n
        allow = torch.zeros(N, N, dtype=torch.bool)
        allow[0, :] = True
        allow[:, 0] = True
        for i in range(f * n):
            for j in range(f * n):
                same = (i % n == j % n) if along_time else (i // n == j // n)
                allow[1 + i, 1 + j] = same
        s = (q @ k.transpose(-1, -2)) * (dim // heads) ** -0.5
        s = s.masked_fill(~allow, float("-inf"))
        out = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, N, dim)
        want = att.proj(out)
    assert torch.allclose(got, want, atol=1e-5)


def _tiny_checkpoint():
    model = _random(SynchformerVisual(dim=64, depth=2, heads=1, patch=16, tube=2, steps=8, image=32), 3, 0.1)
    state = {"vfeat_extractor." + k: v for k, v in model.state_dict().items()}
    state["vfeat_extractor.patch_embed.proj.weight"] = torch.zeros(64, 3, 16, 16)   # unused 2-D embed
    state["afeat_extractor.patch_embed.proj.weight"] = torch.zeros(4, 1, 16, 16)   # audio branch: ignored
    state["transformer.OFF_tok"] = torch.zeros(1, 1, 64)
    return model, state


def test_checkpoint_loads_key_for_key_and_exports(tmp_path):
    model, state = _tiny_checkpoint()
    torch.save(state, tmp_path / "synchformer_state_dict.pth")
    rebuilt = from_state_dict(state)
    assert (rebuilt.frames, rebuilt.image, rebuilt.steps) == (16, 32, 8)
    clips = torch.randn(3, 16, 3, 32, 32)
    with torch.no_grad():
        want = model(clips).numpy()
        assert np.allclose(rebuilt(clips).numpy(), want, atol=1e-6)
    report = {}
    info = export_synchformer(tmp_path / "synchformer_state_dict.pth", tmp_path / "s.onnx", report)
    assert info == {"frames": 16, "size": 32, "tokens": 8}
    got = ex.run_graph(tmp_path / "s.onnx", {"frames": clips.numpy()})[0]
    assert got.shape == (3, 8, 64)
    assert np.abs(got - want).max() < 1e-4
    assert report["checks"]["synchformer_encoder"] < 2e-3


def test_missing_weights_are_refused():
    with pytest.raises(ConvertError, match="vfeat_extractor"):
        from_state_dict({"afeat_extractor.x": torch.zeros(1)})


def test_sync_stream_end_to_end(tmp_path, clip_tank):
    """Convert with the Synchformer stream and generate from a real clip (the picture reaches
    the denoiser through both streams)."""
    import test_convert_hunyuan as th

    from foley_desktop.convert.config import load_config
    from foley_desktop.convert.convert import ConvertOptions, convert
    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser
    from foley_desktop.engine.generate import GenerateRequest, generate

    (tmp_path / "c.yaml").write_text(th.TINY_YAML.replace("sync_feat_dim: 24", "sync_feat_dim: 64"))
    ck = tmp_path / "ck"
    ck.mkdir()
    den = HunyuanFoleyDenoiser(load_config(tmp_path / "c.yaml"))
    th._randomize(den, 1)
    torch.save(den.state_dict(), ck / "hunyuanvideo_foley.pth")
    torch.save(th._reference_vae_checkpoint(th._tiny_vae()), ck / "vae_128d_48k.pth")
    torch.save(_tiny_checkpoint()[1], ck / "synchformer_state_dict.pth")
    th._write_clap(tmp_path / "clap")
    th._write_siglip(tmp_path / "siglip2")
    opts = ConvertOptions(checkpoint_dir=ck, output=tmp_path / "pkg", config=tmp_path / "c.yaml",
                          siglip2=tmp_path / "siglip2", clap=tmp_path / "clap", precisions=(), sync="on")
    pkg = convert(opts)
    assert opts.report["sync_stream"] and "synchformer_encoder" in opts.report["checks"]
    req = GenerateRequest(video=clip_tank, start=0, end=5 * 48000, prompt="a tank engine rumble",
                          seeds=[5], steps=10, guidance=4.5)
    audio = generate(req, package=pkg, precision="fp32", provider="cpu").takes[0].audio
    assert audio.shape == (5 * 48000,) and np.isfinite(audio).all()
