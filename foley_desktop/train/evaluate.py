"""Evaluation of a foley-tiny package on held-out rendered clips (no torch: ONNX graphs only).

Clips come from data/eval (held-out recordings and whole held-out classes, drawn by scenes.py,
events known to the sample). For each clip the package generates audio from its frames and a
caption; we measure
- onset F1 at +-40 ms and +-100 ms against the true event times (event classes), with the same
  onset detector applied to the real reference audio as a check of the detector itself;
- an audio-class check: nearest-centroid classification of the mean band spectrum, centroids
  from the real reference clips of each class; accuracy of generated clips;
- prompt adherence (when a classifier exists, see classifier.py): a CNN trained separately on
  real recordings labels the generated audio; accuracy with the dataset's captions and with
  paraphrases never used in training (UNSEEN_PROMPTS, a second generation of every clip), and
  per class the Fréchet distance between classifier embeddings of generated audio and real
  held-out audio, next to the same distance between two disjoint halves of the real audio;
and save spectrogram PNGs of generated next to reference audio.

    python -m foley_desktop.train.classifier          # once: trains the judge (torch, CPU)
    python -m foley_desktop.train.evaluate --package resources/models/foley-tiny --out runs/eval
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from foley_desktop.engine import anchor, events, sampler
from foley_desktop.engine.package import load_package
from foley_desktop.engine.text import TextTokenizer
from foley_desktop.spotting.onsets import detect_onsets  # moved to spotting: no torch needed
from foley_desktop.spotting.onsets import match as f1

from . import cleanliness, codec
from .classifier import AudioClassifier, frechet_between, render_real_clips, split_bank
from .paths import DATA, PACKAGE_DIR, RUNS

EVENT_CLASSES_PREFIX = ("footsteps_", "door_", "glass_break", "impact", "metal_hit", "explosion",
                        "water_drop", "dog_bark")

# Paraphrases written for the prompt-adherence check: none is a training caption (sounds.py;
# tests/test_train_classifier.py checks), so they measure whether the prompt's meaning, not
# its exact wording, steers the sound.
UNSEEN_PROMPTS = {
    "crowd": ["an audience applauding and shouting", "a noisy crowd of fans",
              "many people chattering at a party"],
    "dog_bark": ["a dog woofs", "a puppy barking loudly", "the bark of a dog"],
    "door_close": ["a door bangs shut", "shutting a wooden door", "the door is closed firmly"],
    "door_open": ["a door swings open slowly", "a creaky door being opened",
                  "someone pulls a door open"],
    "fire": ["a campfire burning and popping", "wood burning in a fireplace",
             "crackling flames of a bonfire"],
    "footsteps_grass": ["footsteps through the grass", "walking across a grassy field",
                        "someone strolls over a lawn"],
    "footsteps_gravel": ["boots crunching on gravel", "walking along a gravel road",
                         "footsteps crunching on a gravel driveway"],
    "footsteps_hard": ["footsteps on a stone pavement", "shoes walking on a concrete floor",
                       "someone walking on a marble floor"],
    "footsteps_ice": ["walking on a frozen lake", "footsteps on slippery ice",
                      "someone stepping across ice"],
    "footsteps_metal": ["footsteps on a metal walkway", "boots walking on steel plates",
                        "someone walks across an iron grate"],
    "footsteps_sand": ["walking through sand on the beach", "footsteps in soft sand",
                       "someone walking in the desert sand"],
    "footsteps_snow": ["boots crunching through snow", "walking in deep snow",
                       "footsteps in the snow"],
    "footsteps_water": ["splashing footsteps through puddles", "walking through shallow water",
                        "someone wades through puddles"],
    "glass_break": ["a window shatters", "a glass bottle smashing", "glass breaking into shards"],
    "impact": ["a heavy box dropped on the floor", "a dull thump", "an object thuds onto the ground"],
    "lava": ["hot lava bubbling", "magma popping and hissing", "a lava pool gurgling"],
    "metal_hit": ["a hammer striking metal", "a steel pipe clanging", "metal clanking on the floor"],
    "vehicle_pass": ["a car passing on the road", "a motorcycle driving by",
                     "a vehicle drives past quickly"],
    "water_drop": ["water drips into a bucket", "a droplet plinks into water",
                   "a small splash of water"],
    "water_flow": ["a flowing river", "a stream trickling over rocks", "running water from a creek"],
}


def band_profile(audio: np.ndarray) -> np.ndarray:
    """Mean log-band spectrum over the loud frames, level-normalised."""
    z = codec.encode(audio)
    e = z.mean(axis=0)
    act = z[:, e > np.percentile(e, 60)]
    p = act.mean(axis=1)
    return p - p.mean()


class Runner:
    """Runs a package's graphs on given frames (the engine's sampler, no video decoding)."""

    def __init__(self, package_dir: Path, precision: str = "int8", threads: int = 2):
        self.pkg = load_package(package_dir)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = {}
        for role, g in self.pkg.graphs.items():
            prec = precision if precision in g.variants else ("int8" if "int8" in g.variants else "fp32")
            self.sess[role] = ort.InferenceSession(str(self.pkg.graph_file(role, prec)), so,
                                                   providers=["CPUExecutionProvider"])
        self.tok = TextTokenizer(self.pkg)
        self.uncond = np.load(self.pkg.file("uncond_visual.npy"))
        self.anchors = anchor.load(self.pkg)
        self.prompts_used: dict[str, str | None] = {}   # prompt -> anchor it was read as

    # False: prompts as typed even when the package has anchors (engine: literal_prompt).
    use_anchors: bool = True

    # Sampler options beyond steps / guidance (None: the package's manifest value), set by
    # evaluate(): method ("euler" | "heun"), shift, visual_guidance (see engine/sampler.py).
    options: dict | None = None
    # True: each clip's true event times are given as spotting markers (strength 1, as an
    # editor marks them) to a package that takes them; False: no markers.
    markers: bool = False
    # False: no picture (the unconditional visual features in every row, as the engine does
    # for a segment without video): what the markers and the prompt do alone.
    video: bool = True

    @property
    def takes_markers(self) -> bool:
        return self.pkg.takes_markers

    def generate(self, frames: np.ndarray, prompt: str, seed: int = 0, steps: int | None = None,
                 guidance: float | None = None, events: list[int] | None = None) -> np.ndarray:
        """Audio for a clip's frames; `events` (samples) are given as markers when
        `self.markers` is set."""
        s = self.pkg.sampler
        o = {k: v for k, v in (self.options or {}).items() if v is not None}
        vg = o.get("visual_guidance", s.get("visual_guidance"))
        if ("visual_guidance" not in o and self.markers and self.takes_markers
                and s.get("visual_guidance_with_markers") is not None):
            vg = s["visual_guidance_with_markers"]      # as the engine does with markers
        if not self.video:
            vg = None         # the engine's text-only path: no picture to weigh apart
        cfg = sampler.SamplerConfig(method=o.get("method", s.get("default_method", "euler")),
                                    steps=steps or s["steps"], guidance=guidance or s["guidance"],
                                    shift=float(o.get("shift", s.get("shift", 1.0))),
                                    visual_guidance=None if vg is None else float(vg),
                                    latent_median=int(o.get("latent_median",
                                                            s.get("latent_median", 0))),
                                    visual_guidance_until=float(o.get(
                                        "visual_guidance_until",
                                        s.get("visual_guidance_until", 0.0))))
        n_lat = len(frames) * 4
        self.track = None
        if self.takes_markers:
            given = events if self.markers else None
            self.track = events_track_for(given, n_lat)
        return self.sample(self.features(frames, prompt), n_lat, seed, cfg)

    track: np.ndarray | None = None     # the event track `sample` feeds ([F, 2]), if any

    def features(self, frames: np.ndarray, prompt: str):
        """Text features and mask of (prompt, default negative), and the clip's visual features.
        Each text is encoded alone, as the engine does (engine.generate.encode_texts)."""
        ids, mask = self.tok.encode([prompt, self.pkg.text["default_negative"]])
        tf = np.concatenate([self.sess["text_encoder"].run(
            None, {"input_ids": ids[i:i + 1], "attention_mask": mask[i:i + 1]})[0] for i in range(2)])
        # The engine's prompt anchoring (engine/generate.py), so the figures are the app's.
        used = None
        if self.anchors is not None and self.use_anchors:
            near = self.anchors.read_as(prompt, tf[0], mask[0])
            if near is not None:
                used = near[0]
                i2, m2 = self.tok.encode([used])
                tf[0] = self.sess["text_encoder"].run(
                    None, {"input_ids": i2, "attention_mask": m2})[0][0]
                mask = mask.copy()
                mask[0] = m2[0]
        self.prompts_used[prompt] = used
        if not self.video:
            return tf, mask, np.tile(self.uncond[None], (len(frames), 1))[None].astype(np.float32)
        x = frames.astype(np.float32) / 127.5 - 1.0
        vis = self.sess["visual_encoder"].run(None, {"frames": x.transpose(0, 3, 1, 2)[None]})[0]
        return tf, mask, vis

    def sample(self, feats, n_lat: int, seed: int, cfg: sampler.SamplerConfig) -> np.ndarray:
        """Audio from `features(...)` with the sampler settings `cfg` (guided)."""
        tf, mask, vis = feats
        unc = np.tile(self.uncond[None], (vis.shape[1], 1))[None]
        rows = [0, 1] if cfg.visual_guidance is None else [0, 0, 1]   # sampler.sample's order
        feeds = {"text_features": tf[rows], "text_mask": mask[rows].astype(np.int64),
                 "visual": np.concatenate([vis] + [unc] * (len(rows) - 1)).astype(np.float32)}
        tm_type = self.sess["denoiser"].get_inputs()[3].type
        if "float" in tm_type:
            feeds["text_mask"] = feeds["text_mask"].astype(np.float32)
        if self.takes_markers:
            track = self.track if self.track is not None else events_track_for(None, n_lat)
            # one track for every row, as the engine feeds it
            feeds[events.EVENTS_INPUT] = np.repeat(track[None], len(rows), 0)
            if o_marker_guidance(self):         # the engine's marker guidance: last row bare
                feeds[events.EVENTS_INPUT][-1] = 0.0

        def den(xx, tt):
            return self.sess["denoiser"].run(None, {"x": xx, "t": tt, **feeds})[0]

        noise = sampler.initial_noise(seed, (n_lat, codec.N_BANDS)).T[None]
        lat = sampler.output_filter(sampler.sample(den, noise, cfg, guided=True), cfg)
        self.last_latent = lat[0]
        return self.sess["decoder"].run(None, {"latent": lat})[0].reshape(-1)

    last_latent: np.ndarray | None = None   # [C, F] that `sample` decoded last (diagnostics)


def o_marker_guidance(run: Runner) -> bool:
    """Whether the unconditional row goes without markers (engine: sampler.marker_guidance;
    evaluate's option `marker_guidance` overrides)."""
    o = run.options or {}
    mg = o.get("marker_guidance")
    if mg is None:
        mg = run.pkg.sampler.get("marker_guidance", False)
    return bool(mg) and bool(run.markers) and run.track is not None \
        and bool(run.track[:, 1].any())


def events_track_for(event_samples: list[int] | None, n_lat: int) -> np.ndarray:
    """The event track of a whole clip (one window) with markers at `event_samples` of
    strength 1, or the no-markers track (zeros) for None."""
    if event_samples is None:
        return events.event_track(np.zeros(0), np.zeros(0), n_lat, codec.HOP, None)
    t = np.asarray(event_samples, np.float64)
    return events.event_track(t, np.ones(len(t)), n_lat, codec.HOP, (0, n_lat))


def latent_jitter(latent: np.ndarray) -> float:
    """Mean absolute change of a latent [C, F] from one frame to the next. Real latents of the
    validation clips: 0.13; sampling noise left in a generated latent raises it."""
    return float(np.abs(np.diff(np.asarray(latent, np.float64), axis=-1)).mean())


def spectrogram_png(path: Path, pairs: list[tuple[str, np.ndarray, np.ndarray, list[float]]]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(len(pairs), 2, figsize=(12, 2.0 * len(pairs)), squeeze=False)
    for r, (title, ref, gen, ev) in enumerate(pairs):
        for c, (name, a) in enumerate((("real (reference)", ref), ("generated", gen))):
            z = codec.encode(a) * codec.LOG_STD / np.log(10) * 10    # dB per band
            ax[r, c].imshow(z, origin="lower", aspect="auto", vmin=z.max() - 70, vmax=z.max(),
                            extent=[0, len(a) / codec.SR, 0, codec.N_BANDS], cmap="magma")
            for e in ev:
                ax[r, c].axvline(e, color="cyan", lw=0.6, alpha=0.7)
            ax[r, c].set_title(f"{title}: {name}", fontsize=8)
            ax[r, c].tick_params(labelsize=6)
    plt.tight_layout()
    plt.savefig(path, dpi=80)
    plt.close(fig)


def evaluate(package_dir: Path, out: Path, n_clips: int | None = None, precision: str = "int8",
             steps: int | None = None, guidance: float | None = None,
             classifier_dir: Path | None = None, paraphrases: bool = True,
             clip_set: str = "eval", options: dict | None = None, threads: int = 2,
             markers: bool = False, video: bool = True) -> dict:
    """Metrics of a package on the held-out clips (also written to out/metrics.json).

    The prompt-adherence block needs a trained classifier (`classifier_dir`, else runs/classifier
    or resources/models/foley-tiny-eval); without one it says so and the rest runs unchanged.
    `paraphrases=False` skips the second generation with UNSEEN_PROMPTS (half the time)."""
    out.mkdir(parents=True, exist_ok=True)
    ev_dir = DATA / clip_set
    meta = json.loads((ev_dir / "meta.json").read_text())["clips"]
    frames = np.load(ev_dir / "frames.npy", mmap_mode="r")
    audio = np.load(ev_dir / "audio.npy", mmap_mode="r")
    n = min(n_clips or len(meta), len(meta))
    run = Runner(package_dir, precision, threads)
    run.options = dict(options or {})
    run.markers, run.video = markers, video
    tol = {"40ms": 0.04, "100ms": 0.1}
    acc = {k: {"gen": [0, 0, 0], "ref": [0, 0, 0]} for k in tol}
    per_class: dict[str, list] = {}
    gens, t_gen = [], 0.0
    pairs: list[tuple[str, np.ndarray, np.ndarray, list]] = []
    for i in range(n):
        m = meta[i]
        t0 = time.perf_counter()
        g = run.generate(np.asarray(frames[i]), m["caption"], seed=i, steps=steps, guidance=guidance,
                         events=m["events"])
        t_gen += time.perf_counter() - t0
        ref = np.asarray(audio[i])
        gens.append(g)
        ev = np.array(m["events"], np.float64) / codec.SR
        if m["cls"].startswith(EVENT_CLASSES_PREFIX):
            for k, tl in tol.items():
                for name, a in (("gen", g), ("ref", ref)):
                    h, nr, ne = f1(ev, detect_onsets(a), tl)
                    acc[k][name] = [acc[k][name][0] + h, acc[k][name][1] + nr, acc[k][name][2] + ne]
                    if name == "gen" and k == "100ms":
                        per_class.setdefault(m["cls"], [0, 0, 0])
                        pc = per_class[m["cls"]]
                        per_class[m["cls"]] = [pc[0] + h, pc[1] + nr, pc[2] + ne]
        if len(pairs) < 8 and m["cls"] not in [p[0] for p in pairs]:
            pairs.append((m["cls"], ref, g, list(ev)))

    def score(h, nr, ne):
        p = h / ne if ne else 0.0
        r = h / nr if nr else 0.0
        return round(2 * p * r / (p + r), 3) if p + r else 0.0

    eff = dict(run.options)
    if (eff.get("visual_guidance") is None and markers and run.takes_markers
            and run.pkg.sampler.get("visual_guidance_with_markers") is not None):
        eff["visual_guidance"] = run.pkg.sampler["visual_guidance_with_markers"]   # what ran
    res = {"clips": n, "precision": precision,
           "markers": ("the true event times, strength 1" if markers and run.takes_markers
                       else "none"),
           "video": video,
           "steps": steps or run.pkg.sampler["steps"], "guidance": guidance or run.pkg.sampler["guidance"],
           "sampler_options": {k: eff.get(k) if eff.get(k) is not None
                               else run.pkg.sampler.get(k if k != "method" else "default_method")
                               for k in ("method", "shift", "visual_guidance", "latent_median",
                                         "visual_guidance_until")},
           "onset_f1": {k: {"generated": score(*v["gen"]), "reference_audio": score(*v["ref"])}
                        for k, v in acc.items()},
           "onset_f1_100ms_per_class": {c: score(*v) for c, v in sorted(per_class.items())},
           "seconds_per_8s_clip": round(t_gen / n, 3)}
    # Audio-class check: centroids from the real reference clips of each class.
    classes = sorted({meta[i]["cls"] for i in range(n)})
    prof_ref = {c: np.mean([band_profile(np.asarray(audio[i])) for i in range(n) if meta[i]["cls"] == c], axis=0)
                for c in classes}
    cen = np.stack([prof_ref[c] for c in classes])
    correct = 0
    for i in range(n):
        d = np.linalg.norm(cen - band_profile(gens[i])[None], axis=1)
        correct += classes[int(np.argmin(d))] == meta[i]["cls"]
    res["class_check"] = {"accuracy": round(correct / n, 3), "classes": len(classes),
                          "chance": round(1 / len(classes), 3)}
    res["cleanliness"] = cleanliness.report(gens, [np.asarray(audio[i]) for i in range(n)],
                                            [meta[i]["cls"] for i in range(n)])
    model_dir = AudioClassifier.find(classifier_dir)
    if model_dir is None:
        res["prompt_adherence"] = {"skipped": "no classifier found: run "
                                   "`python -m foley_desktop.train.classifier` first"}
    else:
        res["prompt_adherence"] = prompt_adherence(
            run, AudioClassifier(model_dir, threads), [meta[i] for i in range(n)], frames,
            [np.asarray(audio[i]) for i in range(n)], gens, steps, guidance, paraphrases)
    spectrogram_png(out / "spectrograms.png", pairs)
    for j, (c, ref, g, _) in enumerate(pairs[:4]):
        from foley_desktop.media.wav import write_wav
        write_wav(out / f"{j}_{c}_gen.wav", g, codec.SR)
        write_wav(out / f"{j}_{c}_ref.wav", ref, codec.SR)
    (out / "metrics.json").write_text(json.dumps(res, indent=1))
    return res


def trained_class_scores(cls: list[str], preds: dict[str, list[str]]) -> dict:
    """Classifier accuracy over the clips of the classes the generator was trained on, and
    what the whole-set accuracy can be at best.

    The held-out classes (sounds.HELDOUT_CLASSES) test generalisation: the generator never
    heard them, so a prompt for one can at best give the nearest trained sound, which the
    classifier (trained on real recordings of every class) counts as wrong. The best
    whole-set score of a generator whose every clip of a trained class is as recognisable as
    the real clip through the decoder is therefore the decoder ceiling without those clips."""
    from .sounds import HELDOUT_CLASSES

    keep = [i for i, c in enumerate(cls) if c not in HELDOUT_CLASSES]
    res = {"held_out_classes": sorted(set(cls) & set(HELDOUT_CLASSES)), "clips": len(keep),
           "classes": len({cls[i] for i in keep})}
    for key, p in preds.items():
        res[key] = round(sum(p[i] == cls[i] for i in keep) / max(len(keep), 1), 3)
    dec = preds["reference_clips_through_decoder"]
    res["best_whole_set_score_of_a_generator_of_trained_classes"] = round(
        sum(dec[i] == cls[i] for i in keep) / max(len(cls), 1), 3)
    return res


def prompt_adherence(run: Runner, clf: AudioClassifier, meta: list[dict], frames, refs: list,
                     gens: list, steps: int | None, guidance: float | None,
                     paraphrases: bool = True, real_seed: int = 4242) -> dict:
    """Classifier accuracy on real and generated clips, and per-class Fréchet distances."""
    cls = [m["cls"] for m in meta]
    held = clf.info.get("heldout_real", {})
    clips8 = held.get("clips_8s", {})
    # the classifier's name, not this machine's path (the result goes into the manifest)
    out: dict[str, Any] = {"classifier": clf.dir.name, "classifier_labels": len(clf.labels),
           "classifier_heldout_real": {"patch_accuracy": held.get("patch_accuracy"),
                                       "clip_accuracy": clips8.get("accuracy"),
                                       "clip_accuracy_coarse":
                                           clips8.get("coarse", {}).get("accuracy"),
                                       "clips": clips8.get("clips"),
                                       "reliable_coarse_classes": clf.reliable()}}
    preds = {"reference_clips": clf.predict(refs),
             # The same real clips re-synthesised by the package's decoder (band energies ->
             # random-phase noise): what a perfect latent would score, the ceiling for generation.
             "reference_clips_through_decoder": clf.predict(
                 [codec.decode(codec.encode(r)) for r in refs]),
             "generated_dataset_captions": clf.predict(gens)}
    judged = gens
    if paraphrases:
        seen: dict[str, int] = {}
        para = []
        for i, m in enumerate(meta):
            k = seen.get(m["cls"], 0)
            seen[m["cls"]] = k + 1
            prompt = UNSEEN_PROMPTS[m["cls"]][k % len(UNSEEN_PROMPTS[m["cls"]])]
            para.append(run.generate(np.asarray(frames[i]), prompt, seed=i, steps=steps,
                                     guidance=guidance, events=m["events"]))
        preds["generated_unseen_paraphrases"] = clf.predict(para)
    for key, p in preds.items():
        out[key] = clf.report(cls, p)
    out["trained_classes"] = trained_class_scores(cls, preds)
    if paraphrases:
        # How the engine read each paraphrase (None: as typed; else the training caption).
        out["generated_unseen_paraphrases"]["read_as"] = {
            p: run.prompts_used.get(p) for ps in UNSEEN_PROMPTS.values() for p in ps
            if p in run.prompts_used}
        judged = para
    # Fréchet distance per class: patch embeddings of the generated clips vs real held-out clips
    # (drawn like the evaluation clips from the classifier's test recordings, never seen by the
    # classifier), and the floor: a second, disjoint set of such real clips vs the first.
    from .sounds import cached_bank
    bank = cached_bank()
    per = max(sum(c == x for x in cls) for c in set(cls))
    real = render_real_clips(bank, split_bank(bank), "test", 2 * per, real_seed, only=set(cls))
    emb_a: dict[str, list] = {}
    emb_b: dict[str, list] = {}
    for c, a in real:                      # alternate each class's clips between the halves
        half = emb_a if len(emb_a.get(c, [])) <= len(emb_b.get(c, [])) else emb_b
        half.setdefault(c, []).append(clf.clip(a)[1])
    emb_g: dict[str, list] = {}
    for c, a in zip(cls, judged):
        emb_g.setdefault(c, []).append(clf.clip(a)[1])
    fd = {}
    for c in sorted(emb_g):
        if c not in emb_a or c not in emb_b:   # a class with no held-out recording (val set)
            continue
        ra, rb, g = (np.concatenate(e[c]) for e in (emb_a, emb_b, emb_g))
        fd[c] = {"generated_vs_real": round(frechet_between(g, ra), 2),
                 "real_vs_real": round(frechet_between(rb, ra), 2),
                 "patches": [len(g), len(ra), len(rb)]}
    out["frechet"] = {
        "embedding": f"classifier penultimate layer, {next(iter(emb_g.values()))[0].shape[1]} "
                     "values per active 1 s patch",
        "covariance": "shrunk towards its diagonal by D/(N+D) (few patches per class)",
        "generated_from": "unseen paraphrases" if paraphrases else "dataset captions",
        "real_clips_per_half": per,
        "per_class": fd,
        "mean_generated_vs_real": round(float(np.mean([v["generated_vs_real"]
                                                       for v in fd.values()])), 2),
        "mean_real_vs_real": round(float(np.mean([v["real_vs_real"] for v in fd.values()])), 2)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--out", type=Path, default=RUNS / "eval")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", default=None, help="euler or heun (default: the package's)")
    ap.add_argument("--shift", type=float, default=None)
    ap.add_argument("--visual-guidance", type=float, default=None,
                    help="separate guidance on the visual condition (a third batch row)")
    ap.add_argument("--latent-median", type=int, default=None,
                    help="output filter window in latent frames (default: the package's)")
    ap.add_argument("--visual-guidance-until", type=float, default=None,
                    help="noise level below which the visual guidance is 1 (default: the "
                         "package's)")
    ap.add_argument("--classifier", type=Path, default=None,
                    help="folder with classifier.onnx/.json (default runs/classifier, then "
                         "resources/models/foley-tiny-eval)")
    ap.add_argument("--set", default="eval", dest="clip_set",
                    help="clip set under data/: eval (held-out, report once) or val (training "
                         "recordings, another seed: for choosing settings)")
    ap.add_argument("--no-paraphrases", action="store_true",
                    help="judge only the dataset captions (skips the second generation)")
    ap.add_argument("--markers", action="store_true",
                    help="give each clip's true event times as spotting markers (a package "
                         "with the event input)")
    ap.add_argument("--marker-guidance", type=int, default=None,
                    help="1: the unconditional row goes without markers (guidance weighs them); "
                         "0: same markers in every row (default: the package's)")
    ap.add_argument("--no-video", action="store_true",
                    help="generate without the picture (the unconditional visual features)")
    a = ap.parse_args(argv)
    print(json.dumps(evaluate(a.package, a.out, a.clips, a.precision, a.steps, a.guidance,
                              a.classifier, not a.no_paraphrases, a.clip_set,
                              {"method": a.method, "shift": a.shift,
                               "visual_guidance": a.visual_guidance,
                               "latent_median": a.latent_median,
                               "visual_guidance_until": a.visual_guidance_until,
                               "marker_guidance": (None if a.marker_guidance is None
                                                   else bool(a.marker_guidance))},
                              a.threads, a.markers, not a.no_video), indent=1))


if __name__ == "__main__":
    main()
