"""The "NTCHW-windows" visual layout (per-clip encoders such as Synchformer): 16-frame clips
every 8 frames at 25 fps, 8 tokens per clip, through a real ONNX encoder and a real video."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from foley_desktop.engine import testpkg
from foley_desktop.engine.features import (
    WINDOWS,
    VisualStream,
    clips_for,
    normalise,
    read_frames,
    tokens_for,
    unconditional,
)
from foley_desktop.engine.package import load_package
from foley_desktop.engine.providers import ProviderChoice
from foley_desktop.engine.session import GraphSession
from foley_desktop.errors import ModelPackageError

SIZE, DIM, CLIP, STRIDE = 16, 8, 16, 8
W = np.random.default_rng(3).standard_normal((6, DIM)).astype(np.float32)


def clip_encoder(fixed: int | str = "N") -> onnx.ModelProto:
    """[N, 16, 3, S, S] -> per-frame mean colour -> pairs of frames -> linear -> tanh: [N, 8, D]."""
    nodes = [helper.make_node("ReduceMean", ["frames"], ["m"], axes=[3, 4], keepdims=0),
             helper.make_node("Reshape", ["m", "shape"], ["pairs"]),
             helper.make_node("MatMul", ["pairs", "w"], ["lin"]),
             helper.make_node("Tanh", ["lin"], ["visual_features"])]
    graph = helper.make_graph(
        nodes, "clip_encoder",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [fixed, CLIP, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("visual_features", TensorProto.FLOAT, [fixed, CLIP // 2, DIM])],
        [numpy_helper.from_array(np.array([0, CLIP // 2, 6], np.int64), "shape"), numpy_helper.from_array(W, "w")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def expected(frames_norm: np.ndarray, n: int) -> np.ndarray:
    """numpy reference: frames [T, 3, H, W] normalised -> [1, n * 8, D]."""
    out = []
    for k in range(n):
        c = frames_norm[k * STRIDE: k * STRIDE + CLIP].mean(axis=(2, 3))      # [16, 3]
        out.append(np.tanh(c.reshape(CLIP // 2, 6) @ W))
    return np.concatenate(out)[None]


def windowed_package(tmp_path, fixed: int | str = "N"):
    folder = testpkg.build(tmp_path / "pkg", fps="25", size=SIZE, window_frames=1500, overlap_frames=100,
                           hop=480, int8=False)
    onnx.save(clip_encoder(fixed), folder / "visual_encoder.fp32.onnx")
    man = json.loads((folder / "manifest.json").read_text())
    man["graphs"]["visual_encoder"]["inputs"] = {"frames": [fixed, CLIP, 3, SIZE, SIZE]}
    man["graphs"]["visual_encoder"]["outputs"] = {"visual_features": [fixed, CLIP // 2, DIM]}
    (folder / "manifest.json").write_text(json.dumps(man))
    testpkg.rehash(folder)
    pkg = load_package(folder)
    # The package loader does not accept the layout yet (package.py); declare it in memory.
    pkg.streams["visual"] = dataclasses.replace(pkg.streams["visual"], layout=WINDOWS)
    pkg.manifest["streams"]["visual"].update(layout=WINDOWS, clip_frames=CLIP, clip_stride=STRIDE)
    return pkg


def test_counts(tmp_path):
    pkg = windowed_package(tmp_path)
    s = pkg.streams["visual"]
    # latent at 100 Hz here: 1500 frames = 15 s = 375 pictures -> 45 clips -> 360 tokens
    assert clips_for(pkg, s, 1500) == 45 and tokens_for(pkg, s, 1500) == 360
    assert tokens_for(pkg, s, 800) == 8 * ((200 - 16) // 8 + 1) == 192       # 8 s: the trained 192
    assert tokens_for(pkg, s, 20) == 8                                       # shorter than a clip
    assert unconditional(pkg, s, tokens_for(pkg, s, 1500)).shape == (1, 360, DIM)


@pytest.mark.parametrize("fixed", ["N", 4])
def test_clips_through_a_real_encoder(tmp_path, clip_tank, fixed):
    pkg = windowed_package(tmp_path, fixed)
    s = pkg.streams["visual"]
    enc = GraphSession(pkg, "visual_encoder", "fp32", ProviderChoice("cpu", "cpu", None))
    vs = VisualStream(pkg, s, enc)
    start, latent_frames = 48000, 1500          # from 1 s, a 15 s window on a 5.6 s clip
    clip_end = int(5.6 * 48000)
    got = vs.window(clip_tank, start, latent_frames, clip_end)
    n = clips_for(pkg, s, latent_frames)
    assert got.shape == (1, n * 8, DIM)
    frames = read_frames(clip_tank, s, start, start + 15 * 48000, clip_end, 375)
    want = expected(normalise(frames, s)[0], n)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # past the clip's end the last picture is held: the last clips are identical
    np.testing.assert_allclose(got[0, -8:], got[0, -16:-8], atol=1e-6)
    assert not np.allclose(got[0, :8], got[0, 8:16])


def test_short_window_fills_one_clip(tmp_path, clip_tank):
    pkg = windowed_package(tmp_path)
    vs = VisualStream(pkg, pkg.streams["visual"],
                      GraphSession(pkg, "visual_encoder", "fp32", ProviderChoice("cpu", "cpu", None)))
    assert vs.window(clip_tank, 0, 20, int(5.6 * 48000)).shape == (1, 8, DIM)


def test_missing_clip_geometry_is_refused(tmp_path):
    pkg = windowed_package(tmp_path)
    del pkg.manifest["streams"]["visual"]["clip_stride"]
    with pytest.raises(ModelPackageError, match="clip_stride"):
        tokens_for(pkg, pkg.streams["visual"], 1500)
