"""Prompt anchoring (engine/anchor.py) with the shipped foley-tiny: a new wording is read as the
nearest training caption (the generated audio is exactly that caption's), a training caption
or `literal_prompt` is used as typed, and bad anchor manifests are refused."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from foley_desktop.engine import anchor
from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package
from foley_desktop.errors import ModelPackageError

N = 24000   # 0.5 s, text only: one window, quick


@pytest.fixture(scope="module")
def engine():
    return Engine("foley-tiny", precision="int8", provider="cpu", threads=1)


def _gen(engine, prompt, **kw):
    return generate(GenerateRequest(None, 0, N, prompt, seeds=[3], **kw), engine=engine)


def test_shipped_anchors_are_the_training_captions(engine):
    a = engine.anchors
    assert a is not None and len(a.texts) > 500
    assert "footsteps on gravel" in a.texts
    np.testing.assert_allclose(np.linalg.norm(a.embeddings, axis=1), 1.0, atol=1e-3)
    assert 0.0 < a.min_similarity < 1.0


def test_new_wording_is_read_as_the_nearest_training_caption(engine):
    res = _gen(engine, "boots crunching over pebbles and small stones")
    assert res.prompt_used in engine.anchors.texts
    assert "gravel" in res.prompt_used or "stone" in res.prompt_used, res.prompt_used
    assert res.prompt_similarity >= engine.anchors.min_similarity
    d = res.to_dict()
    assert d["prompt_used"] == res.prompt_used and 0 < d["prompt_similarity"] <= 1
    # The model was conditioned on exactly the anchor's features: same audio as asking for it.
    same = _gen(engine, res.prompt_used)
    assert same.prompt_used is None
    np.testing.assert_array_equal(res.takes[0].audio, same.takes[0].audio)
    # literal_prompt: the wording as typed, a different sound.
    lit = _gen(engine, "boots crunching over pebbles and small stones", literal_prompt=True)
    assert lit.prompt_used is None and "prompt_used" not in lit.to_dict()
    assert not np.allclose(lit.takes[0].audio, res.takes[0].audio, atol=1e-3)


def test_case_and_spacing_of_a_training_caption_do_not_count_as_new(engine):
    assert _gen(engine, "  Footsteps on   GRAVEL ").prompt_used is None


def test_nearest_respects_the_threshold():
    emb = np.eye(3, dtype=np.float32)
    a = anchor.Anchors(["x", "y", "z"], emb, 0.9)
    feats = np.array([[0.0, 1.0, 0.1], [0.0, 1.0, -0.1], [5.0, 5.0, 5.0]], np.float32)
    assert a.nearest(feats, np.array([1, 1, 0]))[0] == "y"          # masked token ignored
    assert a.nearest(feats, np.array([0, 0, 1])) is None             # cosine 0.58 < 0.9


@pytest.mark.parametrize("value", [{"file": "nope.npz", "min_similarity": 0.5},
                                   {"file": "prompt_anchors.npz", "min_similarity": 2},
                                   {"file": "prompt_anchors.npz"}, "prompt_anchors.npz"])
def test_bad_anchor_manifest_is_refused(tmp_path, value):
    pkg = shutil.copytree(load_package("foley-tiny").path, tmp_path / "p")
    m = json.loads((pkg / "manifest.json").read_text())
    m["text"]["anchor"] = value
    (pkg / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelPackageError, match=r"text\.anchor"):
        load_package(pkg)


def test_cli_says_how_the_prompt_was_read(tmp_path):
    def cli(*extra):
        return subprocess.run([sys.executable, "-m", "foley_desktop", "generate", "--prompt",
                               "boots crunching over pebbles and small stones", "--duration",
                               "0.5", "--seed", "1", "-o", str(tmp_path / "o.wav"), *extra],
                              capture_output=True, text=True, check=False)
    r = cli()
    assert r.returncode == 0, r.stderr
    assert "prompt: read as the model's training prompt" in r.stdout
    r = cli("--literal-prompt")
    assert r.returncode == 0, r.stderr
    assert "prompt:" not in r.stdout
