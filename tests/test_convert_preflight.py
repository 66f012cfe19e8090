"""Conversion inputs are checked before the first heavy stage, and unreadable checkpoints get a
one-line message that never tells the user to load them with weights_only=False.

The denoiser and VAE weights are the official-code goldens' (tests/data/hunyuan_goldens); the
encoder folders hold a real config.json and a placeholder weight file, which is all the checks
read (a run that passed them would fail loading those folders, after the denoiser stage).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion tests need the train extra (torch)")

from test_convert_goldens import GOLDENS, _weights

from foley_desktop.convert.config import ConvertError
from foley_desktop.convert.convert import ConvertOptions, convert, load_checkpoint
from foley_desktop.convert.dac_decoder import DacDecoder
from foley_desktop.convert.preflight import decoder_layout


class NotATensor:
    """Something a pickle can carry that is not a tensor."""


@pytest.fixture()
def inputs(tmp_path):
    z = np.load(GOLDENS / "tiny_a.npz")
    ck = tmp_path / "ckpt"
    ck.mkdir()
    (tmp_path / "tiny.yaml").write_text(str(z["config_yaml"]))
    torch.save(_weights(z), ck / "hunyuanvideo_foley.pth")
    import ast

    torch.save({"state_dict": _weights(z, "dac/"), "metadata": {"kwargs": ast.literal_eval(str(z["dac/kwargs"]))}},
               ck / "vae_128d_48k.pth")
    clap = tmp_path / "clap"
    clap.mkdir()
    (clap / "config.json").write_text(json.dumps({"model_type": "clap_text_model", "hidden_size": 20}))
    (clap / "tokenizer.json").write_text("{}")
    (clap / "model.safetensors").write_bytes(b"")
    sig = tmp_path / "siglip2"
    sig.mkdir()
    (sig / "config.json").write_text(json.dumps({"model_type": "siglip", "vision_config": {"hidden_size": 16}}))
    (sig / "model.safetensors").write_bytes(b"")
    return {"ck": ck, "root": tmp_path, "opts": {"checkpoint_dir": ck, "output": tmp_path / "pkg",
                                                 "config": tmp_path / "tiny.yaml", "clap": clap,
                                                 "siglip2": sig, "sync": "off"}}


def _refused(inputs, match: str, **over) -> str:
    stages = []
    start = time.monotonic()
    with pytest.raises(ConvertError, match=match) as info:
        convert(ConvertOptions(**{**inputs["opts"], **over}), progress=lambda p: stages.append(p.stage))
    assert stages == []                                    # no stage started
    assert not (inputs["root"] / "pkg.partial").exists() and not (inputs["root"] / "pkg").exists()
    assert time.monotonic() - start < 30
    msg = str(info.value)
    assert "\n" not in msg and "weights_only=False" not in msg
    return msg


def _plain_vae(path, latent: int, rates: list[int], drop: str | None = None):
    dec = DacDecoder(latent, 32, rates)
    state = {k: v for k, v in dec.state_dict().items() if k != drop}
    torch.save(state, path)


def test_vae_with_another_hop_is_refused_before_the_denoiser(inputs):
    _plain_vae(inputs["ck"] / "vae_128d_48k.pth", 8, [8, 5, 4, 3])
    assert "480 samples per latent frame" in _refused(inputs, "needs 960")


def test_vae_with_another_latent_width_is_refused(inputs):
    _plain_vae(inputs["ck"] / "vae_128d_48k.pth", 6, [8, 5, 4, 3, 2])
    _refused(inputs, "6-channel latent.*audio_vae_latent_dim 8")


def test_vae_missing_a_weight_is_refused(inputs):
    _plain_vae(inputs["ck"] / "vae_128d_48k.pth", 8, [8, 5, 4, 3, 2], drop="decoder.model.2.block.1.bias")
    _refused(inputs, "DAC layout.*decoder.model.2.block.1.bias")


def test_encoder_widths_and_folders_are_checked(inputs):
    clap = inputs["opts"]["clap"]
    (clap / "config.json").write_text(json.dumps({"hidden_size": 768}))
    _refused(inputs, "CLAP text features are 768 wide.*condition_dim 20")
    (clap / "config.json").write_text(json.dumps({"hidden_size": 20}))
    (clap / "model.safetensors").unlink()
    _refused(inputs, "no weights")
    (clap / "model.safetensors").write_bytes(b"")
    sig = inputs["opts"]["siglip2"]
    (sig / "config.json").write_text(json.dumps({"model_type": "siglip2", "vision_config": {"hidden_size": 16}}))
    _refused(inputs, "fixed-resolution")
    (sig / "config.json").write_text(json.dumps({"model_type": "siglip", "vision_config": {"hidden_size": 32}}))
    _refused(inputs, "SigLIP2 features are 32 wide.*clip_dim 16")


def test_synchformer_and_denoiser_checkpoints_are_checked(inputs):
    torch.save({"vfeat_extractor.cls_token": torch.zeros(1, 1, 24)}, inputs["ck"] / "synchformer_state_dict.pth")
    _refused(inputs, "patch_embed_3d", sync="on")
    state = torch.load(inputs["ck"] / "hunyuanvideo_foley.pth", weights_only=True)
    del state["single_blocks.1.linear2.w2.weight"]
    torch.save(state, inputs["ck"] / "hunyuanvideo_foley.pth")
    _refused(inputs, "lacks 1 weights.*single_blocks.1.linear2.w2.weight")


def test_golden_vae_layout_is_read_from_shapes_alone(inputs):
    lay = decoder_layout(load_checkpoint(inputs["ck"] / "vae_128d_48k.pth"))
    assert lay == {"latent_dim": 8, "channels": 32, "rates": [8, 5, 4, 3, 2], "hop": 960}


def test_legacy_checkpoint_message_and_its_advice_work(inputs, tmp_path):
    state = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    old = tmp_path / "old.pth"
    torch.save(state, old, _use_new_zipfile_serialization=False)
    with pytest.raises(ConvertError, match="legacy PyTorch checkpoint") as info:
        load_checkpoint(old)
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)
    # the advice given, followed literally, gives a file the converter reads
    new = tmp_path / "new.pth"
    torch.save(torch.load(old, weights_only=True), new)
    assert torch.equal(load_checkpoint(new)["a"], state["a"])


def test_pickled_objects_are_refused_without_torchs_advice(tmp_path):
    bad = tmp_path / "objects.pth"
    torch.save({"w": torch.zeros(2), "extra": NotATensor()}, bad)
    with pytest.raises(ConvertError) as info:
        load_checkpoint(bad)
    msg = str(info.value)
    assert "objects besides tensors" in msg and "NotATensor" in msg
    assert "weights_only" not in msg and "\n" not in msg
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(ConvertError, match="not a PyTorch checkpoint"):
        load_checkpoint(junk)
