"""Model packages: manifest validation, hashes, refusals, listing; providers and precision."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from foley_desktop.engine import providers, testpkg
from foley_desktop.engine.generate import Engine, pick_variants
from foley_desktop.engine.package import list_packages, load_package
from foley_desktop.errors import ModelPackageError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("pkg") / "analytic")


@pytest.fixture
def pkg(pristine, tmp_path):
    """A private copy each test may damage."""
    return shutil.copytree(pristine, tmp_path / "analytic")


def edit_manifest(folder, fn):
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    fn(m)
    path.write_text(json.dumps(m))


def test_load_by_path_reads_manifest(pkg):
    p = load_package(pkg)
    assert p.name == "test-analytic"
    assert p.sample_rate == 48000 and p.hop_samples == 480 and p.window_frames == 200
    assert set(p.variants("denoiser")) == {"fp32", "int8"}
    assert set(p.variants("decoder")) == {"fp32"}
    sizes = p.sizes()
    fp32_files = [f for f in pkg.iterdir() if f.name.endswith(".fp32.onnx")]
    assert len(fp32_files) == 4
    on_disk = sum(f.stat().st_size for f in
                  fp32_files + [pkg / "tokenizer.json", pkg / "uncond_visual.npy"])
    assert sizes["fp32"] == on_disk


def test_list_and_load_by_name_from_user_folder(pristine, tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path))
    monkeypatch.setenv("FOLEY_DESKTOP_RESOURCES", str(tmp_path / "no-resources"))
    (tmp_path / "models").mkdir()
    shutil.copytree(pristine, tmp_path / "models" / "mine")
    (tmp_path / "models" / "broken").mkdir()
    (tmp_path / "models" / "broken" / "manifest.json").write_text("{not json")
    listed = {s.name: s for s in list_packages()}
    assert listed["test-analytic"].source == "user"
    assert listed["test-analytic"].variants["denoiser"] == ["fp32", "int8"]
    assert listed["test-analytic"].error is None
    assert "manifest.json" in listed["broken"].error
    assert load_package("test-analytic").path == tmp_path / "models" / "mine"
    with pytest.raises(ModelPackageError, match="no model package named \"nope\""):
        load_package("nope")


def test_tampered_graph_is_refused_naming_the_file(pkg):
    f = pkg / "denoiser.int8.onnx"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0xFF          # same size, different content
    f.write_bytes(bytes(data))
    with pytest.raises(ModelPackageError, match=r"SHA-256 mismatch for .*denoiser\.int8\.onnx"):
        Engine(pkg, precision="int8", provider="cpu")
    # fp32 does not touch the damaged file and still loads; verify_all finds it.
    Engine(pkg, precision="fp32", provider="cpu")
    with pytest.raises(ModelPackageError, match=r"denoiser\.int8\.onnx"):
        load_package(pkg).verify_all()


def test_missing_graph_file_and_missing_graph(pkg):
    (pkg / "decoder.fp32.onnx").unlink()
    with pytest.raises(ModelPackageError, match=r"missing file .*decoder\.fp32\.onnx"):
        Engine(pkg, provider="cpu")
    edit_manifest(pkg, lambda m: m["graphs"].pop("decoder"))
    with pytest.raises(ModelPackageError, match=r"manifest\.json: missing graph \"decoder\""):
        load_package(pkg)


def test_graph_inputs_that_disagree_with_the_manifest_are_refused(pkg):
    def rename(m):
        ins = m["graphs"]["visual_encoder"]["inputs"]
        ins["pixels"] = ins.pop("frames")
    edit_manifest(pkg, rename)
    with pytest.raises(ModelPackageError, match=r"visual_encoder\.fp32\.onnx: graph inputs"):
        Engine(pkg, precision="fp32", provider="cpu")


def test_graph_shapes_that_disagree_with_the_manifest_are_refused(pkg):
    edit_manifest(pkg, lambda m: m["graphs"]["decoder"]["inputs"].update(latent=[1, 5, "F"]))
    with pytest.raises(ModelPackageError, match=r"decoder\.fp32\.onnx: input latent has shape"):
        Engine(pkg, precision="fp32", provider="cpu")
    edit_manifest(pkg, lambda m: m["graphs"]["decoder"]["inputs"].update(latent=[1, 4]))
    with pytest.raises(ModelPackageError, match=r"decoder\.fp32\.onnx: input latent has rank"):
        Engine(pkg, precision="fp32", provider="cpu")


@pytest.mark.parametrize("content, message", [
    ("{oops", "cannot read .*manifest.json"),
    ("[]", "must be a JSON object"),
    ('{"format": "foley-model-package", "format_version": 9}', "format_version 9"),
    ('{"format": "foley-model-package", "format_version": 1, "name": "x"}', "missing \"version\""),
])
def test_unreadable_manifest(pkg, content, message):
    (pkg / "manifest.json").write_text(content)
    with pytest.raises(ModelPackageError, match=message):
        load_package(pkg)


def test_tampered_tokenizer_and_unconditional_features(pkg):
    np.save(pkg / "uncond_visual.npy", np.ones(8, np.float32))
    from foley_desktop.engine.generate import GenerateRequest, generate
    from foley_desktop.errors import FoleyError
    with pytest.raises(FoleyError, match=r"uncond_visual\.npy"):
        generate(GenerateRequest(None, 0, 4800, "rain"), package=pkg, provider="cpu")


@pytest.mark.parametrize("value", [4, -1, 2.5, "5", True])
def test_bad_output_filter_window_is_refused(pkg, value):
    edit_manifest(pkg, lambda m: m["sampler"].update(latent_median=value))
    with pytest.raises(ModelPackageError, match="latent_median must be 0 or an odd number"):
        load_package(pkg)


@pytest.mark.parametrize("value", [1.0, -0.1, "0.5", True, None])
def test_bad_visual_guidance_interval_is_refused(pkg, value):
    edit_manifest(pkg, lambda m: m["sampler"].update(visual_guidance_until=value))
    with pytest.raises(ModelPackageError, match="visual_guidance_until must be a noise level"):
        load_package(pkg)


@pytest.mark.parametrize("value", ["footsteps", [""], [3], ["x" * 201]])
def test_bad_prompt_examples_are_refused(pkg, value):
    edit_manifest(pkg, lambda m: m["text"].update(examples=value))
    with pytest.raises(ModelPackageError, match=r"text\.examples must be a list"):
        load_package(pkg)


def test_prompt_examples_are_listed(pristine, tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path))
    monkeypatch.setenv("FOLEY_DESKTOP_RESOURCES", str(tmp_path / "no-resources"))
    (tmp_path / "models").mkdir()
    shutil.copytree(pristine, tmp_path / "models" / "mine")
    assert list_packages()[0].prompt_examples == []          # optional
    edit_manifest(tmp_path / "models" / "mine",
                  lambda m: m["text"].update(examples=["door slam", "rain on a roof"]))
    (s,) = list_packages()
    assert s.error is None and s.prompt_examples == ["door slam", "rain on a roof"]
    assert s.to_dict()["prompt_examples"] == 2


def test_window_that_cuts_visual_tokens_is_refused(pkg):
    edit_manifest(pkg, lambda m: m["window"].update(frames=202))
    with pytest.raises(ModelPackageError, match="not a whole number of visual features"):
        load_package(pkg)


# ---------------------------------------------------------------- providers and precision

def test_cuda_requested_without_cuda_falls_back_to_cpu_and_says_why(pkg):
    reason = providers.unavailable_reason("cuda")
    if reason is None:
        pytest.skip("CUDA libraries are present on this machine")
    # onnxruntime-gpu is installed: the provider is compiled in, its libraries are not.
    import onnxruntime as ort
    assert "CUDAExecutionProvider" in ort.get_available_providers()
    engine = Engine(pkg, provider="cuda")
    assert engine.provider == "cpu"
    assert "\n" not in engine.fallback_reason
    assert engine.fallback_reason.startswith("cuda unavailable (CUDA/cuDNN libraries missing: lib")
    assert engine.fallback_reason.endswith("running on CPU")
    for role, sess in engine.sessions.items():
        assert sess.session.get_providers() == ["CPUExecutionProvider"], role


def test_auto_provider_reports_what_runs(pkg):
    engine = Engine(pkg)
    assert engine.provider in ("cpu", "cuda", "tensorrt")
    if engine.provider == "cpu" and providers.unavailable_reason("tensorrt"):
        assert "tensorrt unavailable" in engine.fallback_reason


def test_cpu_requested_is_not_a_fallback(pkg):
    engine = Engine(pkg, provider="cpu")
    assert engine.provider == "cpu" and engine.fallback_reason is None


def test_auto_precision_on_cpu_takes_int8_where_present(pkg):
    engine = Engine(pkg, provider="cpu")
    assert engine.variants == {"text_encoder": "int8", "visual_encoder": "int8",
                               "denoiser": "int8", "decoder": "fp32"}
    assert engine.variant == "int8 (decoder fp32)"
    p = load_package(pkg)
    assert pick_variants(p, "auto", "cuda")["denoiser"] == "fp32"   # no fp16 here
    assert pick_variants(p, "fp32", "cpu") == dict.fromkeys(p.graphs, "fp32")
    with pytest.raises(ModelPackageError, match="has no fp16 variant"):
        pick_variants(p, "fp16", "cpu")


def test_models_cli_lists_packages(pristine, tmp_path):
    (tmp_path / "models").mkdir()
    shutil.copytree(pristine, tmp_path / "models" / "analytic")
    env = {"FOLEY_DESKTOP_DATA": str(tmp_path),
           "FOLEY_DESKTOP_RESOURCES": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "models", "--json", "--verify"],
                       check=False, capture_output=True, text=True, env=env,
                          timeout=60)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    (entry,) = data["packages"]
    assert entry["name"] == "test-analytic" and entry["source"] == "user"
    assert entry["verified"] is True
    assert entry["sizes"]["int8"] > 0 and entry["variants"]["decoder"] == ["fp32"]
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "models"],
                       check=False, capture_output=True, text=True, env=env,
                          timeout=60)
    assert r.returncode == 0 and "test-analytic 0.0.1  [user]" in r.stdout
    assert "denoiser: fp32, int8" in r.stdout
    # A damaged package is listed as broken and the command exits 2.
    (tmp_path / "models" / "analytic" / "decoder.fp32.onnx").write_bytes(b"junk")
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "models", "--verify"],
                       check=False, capture_output=True, text=True, env=env,
                          timeout=60)
    assert r.returncode == 2 and "BROKEN" in r.stdout and "decoder.fp32.onnx" in r.stdout
