"""The package's prompt anchors (engine/anchor.py): every caption the model was trained with and
its sentence embedding from the package's own text encoder.

    python -m foley_desktop.train.anchors --package resources/models/foley-tiny --data data/train

writes `prompt_anchors.npz` into the package and lists it in the manifest (`files` and
`text.anchor`); export.py calls the same function for a new package.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from foley_desktop.engine.anchor import pooled

from .captions import prompt_examples
from .paths import DATA, PACKAGE_DIR
from .text import caption_features

FILE = "prompt_anchors.npz"
# Below this cosine similarity a prompt is used as typed. Chosen low on purpose: on the
# validation wordings the nearest caption had the right class at similarities from 0.48 up,
# and a prompt unlike every training caption gets the model's weak literal reading anyway.
MIN_SIMILARITY = 0.45


def anchor_texts(train_meta: Path | None) -> list[str]:
    """sounds.py's captions of the trained classes, then every other caption of the training
    set (the compound "X, with Y in the background" ones), each once."""
    texts = prompt_examples()
    if train_meta is not None and train_meta.exists():
        texts += [c["caption"] for c in json.loads(train_meta.read_text())["clips"]]
    return list(dict.fromkeys(texts))


def write_anchors(package: Path, train_meta: Path | None) -> dict:
    """Writes package/FILE (atomically) and returns its manifest `files` entry."""
    texts = anchor_texts(train_meta)
    feats, mask = caption_features(package / "text_encoder.int8.onnx",
                                   package / "tokenizer.json", texts)
    emb = pooled(feats.astype(np.float32), mask).astype(np.float16)
    tmp = package / (FILE + ".tmp.npz")
    np.savez(tmp, texts=np.array(texts), embeddings=emb)
    tmp.replace(package / FILE)
    data = (package / FILE).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def add(manifest: dict, package: Path, train_meta: Path | None) -> None:
    """Writes the anchors file and lists it in `manifest` (a dict, not yet saved)."""
    manifest["files"][FILE] = write_anchors(package, train_meta)
    manifest["text"]["anchor"] = {"file": FILE, "min_similarity": MIN_SIMILARITY}


def add_to_manifest(package: Path, train_meta: Path | None) -> dict:
    """The same for an existing package: its manifest.json is rewritten (atomically)."""
    path = package / "manifest.json"
    m = json.loads(path.read_text())
    add(m, package, train_meta)
    tmp = package / "manifest.json.tmp"
    tmp.write_text(json.dumps(m, indent=1) + "\n")
    tmp.replace(path)
    return m


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--data", type=Path, default=DATA / "train",
                    help="the rendered training set (its meta.json captions become anchors)")
    a = ap.parse_args(argv)
    meta = a.data / "meta.json"
    m = add_to_manifest(a.package, meta if meta.exists() else None)
    print(f"{a.package / FILE}: {m['files'][FILE]['bytes']} bytes")


if __name__ == "__main__":
    main()
