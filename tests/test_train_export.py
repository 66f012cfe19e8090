"""export.py --manifest-only: a model-card edit re-hashes the card in the manifest, and only
when every graph and array still matches it (a stale or damaged graph is refused)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from foley_desktop.engine.package import ModelPackageError, load_package
from foley_desktop.train import export

PKG_DIR = Path(__file__).resolve().parent.parent / "resources/models/foley-tiny"


def test_documents_only_rehashes_the_card_and_refuses_a_changed_graph(tmp_path):
    pkg = tmp_path / "foley-tiny"
    shutil.copytree(PKG_DIR, pkg)
    card = pkg / "MODEL_CARD.md"
    card.write_text(card.read_text() + "\nAn added note.\n")
    with pytest.raises(ModelPackageError):
        load_package(pkg).verify_all()
    export.main(["--out", str(pkg), "--manifest-only"])
    loaded = load_package(pkg)
    loaded.verify_all()
    assert loaded.version == load_package(PKG_DIR).version

    graph = pkg / "denoiser.int8.onnx"
    data = bytearray(graph.read_bytes())
    data[-1] ^= 1
    graph.write_bytes(bytes(data))
    before = (pkg / "manifest.json").read_bytes()
    card.write_text(card.read_text() + "Another note.\n")
    with pytest.raises(SystemExit, match=r"denoiser\.int8\.onnx"):
        export.main(["--out", str(pkg), "--manifest-only"])
    assert (pkg / "manifest.json").read_bytes() == before
