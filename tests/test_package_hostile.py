"""Hostile model packages (issue #26): paths outside the package, numbers that would size
gigabytes, deep JSON and forged array headers are refused in one line before anything is
allocated or read outside; one broken package does not hide the others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from foley_desktop.engine import testpkg
from foley_desktop.engine.package import load_package, sha256_file
from foley_desktop.errors import ModelPackageError


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("pkg") / "good", name="good", int8=False)


def copy(clean, tmp_path, name="bad"):
    dst = tmp_path / name
    shutil.copytree(clean, dst)
    return dst


def edit(pkg, fn):
    m = json.loads((pkg / "manifest.json").read_text())
    fn(m)
    (pkg / "manifest.json").write_text(json.dumps(m))
    return pkg


def test_paths_outside_the_package_are_refused_before_reading(clean, tmp_path):
    secret = tmp_path / "secret.onnx"
    secret.write_bytes(b"x" * 12345)
    digest, size = sha256_file(secret), secret.stat().st_size
    cases = {
        "absolute": lambda m: m["graphs"]["decoder"]["variants"]["fp32"].update(
            file=str(secret), sha256=digest, bytes=size),
        "dotdot": lambda m: m["graphs"]["decoder"]["variants"]["fp32"].update(
            file="../secret.onnx", sha256=digest, bytes=size),
    }
    for name, fn in cases.items():
        pkg = edit(copy(clean, tmp_path, name), fn)
        p = load_package(pkg)
        with pytest.raises(ModelPackageError, match="outside the package") as exc:
            p.graph_file("decoder", "fp32")
        assert str(size) not in str(exc.value)          # nothing about the outside file
    # A link inside the package that leads out.
    pkg = copy(clean, tmp_path, "link")
    m = json.loads((pkg / "manifest.json").read_text())
    rel = m["graphs"]["decoder"]["variants"]["fp32"]["file"]
    os.remove(pkg / rel)
    os.symlink(secret, pkg / rel)
    with pytest.raises(ModelPackageError, match="leads outside"):
        load_package(pkg).graph_file("decoder", "fp32")


@pytest.mark.parametrize("what, fn", [
    ("window.frames", lambda m: m["window"].update(frames=10 ** 12)),
    ("text.max_tokens", lambda m: m["text"].update(max_tokens=10 ** 9)),
    ("sampler.steps", lambda m: m["sampler"].update(steps=10 ** 9)),
    ("latent.channels", lambda m: m["latent"].update(channels=10 ** 7)),
])
def test_numbers_that_would_size_gigabytes_are_refused_at_load(clean, tmp_path, what, fn):
    pkg = edit(copy(clean, tmp_path), fn)
    with pytest.raises(ModelPackageError, match=what.replace(".", r"\.")):
        load_package(pkg)


def test_a_forged_array_header_is_refused(clean, tmp_path):
    pkg = copy(clean, tmp_path)
    arr = pkg / "huge.npy"
    header = np.lib.format
    with open(arr, "wb") as fh:
        header.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                           "shape": (10 ** 11,)})
        fh.write(b"\0" * 64)
    edit(pkg, lambda m: m.setdefault("files", {}).update(
        {"huge.npy": {"sha256": sha256_file(arr), "bytes": arr.stat().st_size}}))
    with pytest.raises(ModelPackageError, match="declares 100000000000 elements"):
        load_package(pkg).array("huge.npy")


def test_deep_json_and_one_broken_package_among_good_ones(clean, tmp_path):
    models = tmp_path / "data" / "models"
    shutil.copytree(clean, models / "good")
    (models / "deep").mkdir(parents=True)
    (models / "deep" / "manifest.json").write_text("[" * 100000 + "]" * 100000)
    env = {**os.environ, "FOLEY_DESKTOP_DATA": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "models", "--verify"],
                       capture_output=True, text=True, check=False, env=env)
    assert "Traceback" not in r.stderr
    assert "good" in r.stdout and "nested too deeply" in r.stdout + r.stderr
    with pytest.raises(ModelPackageError, match="nested too deeply"):
        load_package(models / "deep")
