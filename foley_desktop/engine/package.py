"""Model packages: find, parse and validate `manifest.json`, verify file hashes.

A package is data (docs/model-package.md): the engine learns every shape, rate and name from the
manifest and refuses a package that is inconsistent, with a one-line message naming the file.
Hashes are checked lazily, right before a file is used, and remembered per (path, size, mtime)
so that a large graph is hashed once per process.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from foley_desktop.engine.events import CHANNELS as EVENT_CHANNELS
from foley_desktop.engine.events import EVENTS_INPUT
from foley_desktop.errors import ModelPackageError
from foley_desktop.paths import model_search_path, resources_dir

FORMAT = "foley-model-package"
FORMAT_VERSION = 1
GRAPH_ROLES = ("text_encoder", "denoiser", "decoder")  # visual encoders are named by streams
PRECISIONS = ("fp32", "fp16", "int8")
FIXED_DENOISER_INPUTS = ("x", "t", "text_features", "text_mask")

_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rational(value: Any, what: str, where: Path) -> Fraction:
    try:
        r = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise ModelPackageError(f"{where}: {what} must be a rational like \"25\" or "
                                f"\"30000/1001\", not {value!r}") from None
    if r <= 0:
        raise ModelPackageError(f"{where}: {what} must be positive, not {value!r}")
    return r


@dataclass(frozen=True)
class GraphSpec:
    """One graph role: its I/O as the manifest states it and its precision variants."""

    role: str
    inputs: dict[str, list]    # name -> dims (int or symbolic str)
    outputs: dict[str, list]
    variants: dict[str, dict]  # precision -> {"file", "sha256", "bytes", "recipe"?}


@dataclass(frozen=True)
class StreamSpec:
    """A visual stream the denoiser is conditioned on (input named after the stream)."""

    name: str
    graph: str
    fps: Fraction
    width: int
    height: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layout: str
    features_per_frame: int
    unconditional: str

    @property
    def feature_rate(self) -> Fraction:
        return self.fps * self.features_per_frame


@dataclass
class ModelPackage:
    path: Path
    manifest: dict
    graphs: dict[str, GraphSpec]
    streams: dict[str, StreamSpec]
    source: str = "path"   # "shipped", "user" or "path"
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # ---- manifest accessors (validated in _validate) ----
    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["audio"]["sample_rate"])

    @property
    def latent_channels(self) -> int:
        return int(self.manifest["latent"]["channels"])

    @property
    def latent_rate(self) -> Fraction:
        return Fraction(str(self.manifest["latent"]["frame_rate"]))

    @property
    def hop_samples(self) -> int:
        return int(self.manifest["latent"]["hop_samples"])

    @property
    def window_frames(self) -> int:
        return int(self.manifest["window"]["frames"])

    @property
    def overlap_frames(self) -> int:
        return int(self.manifest["window"]["overlap_frames"])

    @property
    def text(self) -> dict:
        return self.manifest["text"]

    @property
    def sampler(self) -> dict:
        return self.manifest["sampler"]

    @property
    def takes_markers(self) -> bool:
        """Whether the denoiser has the event track input (engine/events.py)."""
        return EVENTS_INPUT in self.graphs["denoiser"].inputs

    def variants(self, role: str) -> dict[str, dict]:
        return self.graphs[role].variants

    def sizes(self) -> dict[str, int]:
        """Bytes on disk per precision: each graph's variant (or its fp32 where it has none)."""
        out: dict[str, int] = {}
        precisions = sorted({p for g in self.graphs.values() for p in g.variants},
                            key=lambda p: PRECISIONS.index(p) if p in PRECISIONS else 99)
        files = sum(int(f.get("bytes", 0)) for f in self.manifest.get("files", {}).values())
        for p in precisions:
            total = files
            for g in self.graphs.values():
                v = g.variants.get(p) or g.variants.get("fp32") or next(iter(g.variants.values()))
                total += int(v.get("bytes", 0))
            out[p] = total
        return out

    # ---- files ----
    def verified_path(self, rel: str, sha256: str, nbytes: int | None = None) -> Path:
        """The path of a package file after checking its size and SHA-256; refuses otherwise.
        Every path the manifest names stays inside the package folder: an absolute path, a
        `..` or a link leading out is refused before anything outside is opened."""
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ModelPackageError(f"model package {self.name}: the manifest names a file "
                                    f"outside the package ({rel!r})")
        path = self.path / rel
        try:
            inside = path.resolve().is_relative_to(self.path.resolve())
        except OSError:
            inside = False
        if not inside:
            raise ModelPackageError(f"model package {self.name}: {rel} leads outside the package "
                                    "folder (a link?)")
        if not path.is_file():
            raise ModelPackageError(f"model package {self.name}: missing file {path}")
        st = path.stat()
        if nbytes is not None and st.st_size != int(nbytes):
            raise ModelPackageError(f"model package {self.name}: {path} has {st.st_size} bytes, "
                                    f"the manifest says {nbytes} (file damaged or replaced)")
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with _verified_lock:
            known = _verified.get(key)
        digest = known or sha256_file(path)
        if digest != sha256.lower():
            raise ModelPackageError(f"model package {self.name}: SHA-256 mismatch for {path} "
                                    "(file damaged or tampered with)")
        with _verified_lock:
            _verified[key] = digest
        return path

    def file(self, rel: str) -> Path:
        """A verified path of an entry of the manifest's `files`."""
        entry = self.manifest.get("files", {}).get(rel)
        if entry is None:
            raise ModelPackageError(f"model package {self.name}: {rel} is not listed in "
                                    f"{self.path / 'manifest.json'} \"files\"")
        return self.verified_path(rel, entry["sha256"], entry.get("bytes"))

    def graph_file(self, role: str, precision: str) -> Path:
        v = self.graphs[role].variants[precision]
        return self.verified_path(v["file"], v["sha256"], v.get("bytes"))

    def array(self, rel: str) -> np.ndarray:
        if rel not in self._arrays:
            path = self.file(rel)
            try:
                _check_npy(path)
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ModelPackageError(f"model package {self.name}: cannot read {path}: "
                                        f"{exc}") from None
            self._arrays[rel] = np.asarray(arr, dtype=np.float32)
        return self._arrays[rel]

    def verify_all(self) -> None:
        """Hash every file the manifest lists (`foley-desktop models --verify`)."""
        for rel in self.manifest.get("files", {}):
            self.file(rel)
        for role, g in self.graphs.items():
            for p in g.variants:
                self.graph_file(role, p)


@dataclass(frozen=True)
class PackageSummary:
    name: str
    version: str
    path: Path
    source: str
    license: str
    description: str
    sample_rate: int
    window_seconds: float
    variants: dict[str, list[str]]   # graph -> precisions
    sizes: dict[str, int]            # precision -> bytes
    error: str | None = None
    # What a request that leaves them unset gets: steps, guidance, visual_guidance (None: one
    # guidance for both conditions), method.
    sampler_defaults: dict = field(default_factory=dict)
    # Prompts the model was trained with (manifest text.examples; optional): the GUI offers
    # them as completions, since a small model follows wordings near its training captions best.
    prompt_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "path": str(self.path),
                "source": self.source, "license": self.license,
                "description": self.description, "sample_rate": self.sample_rate,
                "window_seconds": self.window_seconds, "variants": self.variants,
                "sizes": self.sizes, "error": self.error,
                "sampler_defaults": self.sampler_defaults,
                "prompt_examples": len(self.prompt_examples)}


# ---------------------------------------------------------------- parsing and validation

def _dims(value: Any, what: str, where: Path) -> list:
    if not isinstance(value, list) or not all(isinstance(d, (int, str)) for d in value):
        raise ModelPackageError(f"{where}: {what} must be a list of ints and names, not {value!r}")
    return list(value)


MAX_MANIFEST_BYTES = 16 * 2**20
MAX_ARRAY_ELEMENTS = 64 * 2**20      # the largest array a package ships (anchors: ~1 M)


def _check_npy(path: Path) -> None:
    """Refuse an .npy whose header promises more elements than any package array holds
    (numpy would allocate them before finding the file short)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _order, _dtype = read(fh)
    n = 1
    for d in shape:
        n *= int(d)
    if n > MAX_ARRAY_ELEMENTS:
        raise ValueError(f"its header declares {n} elements (at most {MAX_ARRAY_ELEMENTS})")


def _bounded(value: Any, what: str, lo: int, hi: int, where: Path) -> int:
    """An integer field of the manifest within [lo, hi], checked before anything is sized by it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() \
            or not lo <= int(value) <= hi:
        raise ModelPackageError(f"{where}: {what} must be an integer from {lo} to {hi}, "
                                f"got {value!r}"[:300])
    return int(value)


def _require(d: dict, key: str, where: Path, ctx: str = "") -> Any:
    if not isinstance(d, dict) or key not in d:
        raise ModelPackageError(f"{where}: missing \"{ctx}{key}\"")
    return d[key]


def _parse(path: Path, source: str) -> ModelPackage:
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise ModelPackageError(f"model package not found: {path} is not a folder")
    if not mpath.is_file():
        raise ModelPackageError(f"{path} is not a model package: no manifest.json")
    try:
        if mpath.stat().st_size > MAX_MANIFEST_BYTES:
            raise ModelPackageError(f"{mpath}: {mpath.stat().st_size} bytes is not a manifest "
                                    f"(they stay under {MAX_MANIFEST_BYTES // 2**20} MiB)")
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelPackageError(f"cannot read {mpath}: {exc}") from None
    except RecursionError:
        raise ModelPackageError(f"cannot read {mpath}: nested too deeply") from None
    if not isinstance(manifest, dict):
        raise ModelPackageError(f"{mpath}: the manifest must be a JSON object")
    if manifest.get("format") != FORMAT:
        raise ModelPackageError(f"{mpath}: \"format\" must be \"{FORMAT}\"")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelPackageError(f"{mpath}: format_version {manifest.get('format_version')!r} is "
                                f"not supported (this version reads {FORMAT_VERSION})")
    for key in ("name", "version", "license", "audio", "latent", "window", "text", "streams",
                "graphs", "sampler"):
        _require(manifest, key, mpath)
    if not isinstance(manifest["name"], str) or not manifest["name"].strip():
        raise ModelPackageError(f"{mpath}: \"name\" must be a non-empty string")

    audio = manifest["audio"]
    sr = _require(audio, "sample_rate", mpath, "audio.")
    if not isinstance(sr, int) or sr <= 0:
        raise ModelPackageError(f"{mpath}: audio.sample_rate must be a positive integer")
    _bounded(sr, "audio.sample_rate", 8000, 384000, mpath)
    if audio.get("channels", 1) != 1:
        raise ModelPackageError(f"{mpath}: only mono models (audio.channels 1) are supported")
    latent = manifest["latent"]
    for key in ("channels", "frame_rate", "hop_samples"):
        _require(latent, key, mpath, "latent.")
    _bounded(latent["channels"], "latent.channels", 1, 4096, mpath)
    _bounded(latent["hop_samples"], "latent.hop_samples", 1, 1 << 20, mpath)
    lrate = _rational(latent["frame_rate"], "latent.frame_rate", mpath)
    if lrate * int(latent["hop_samples"]) != sr:
        raise ModelPackageError(f"{mpath}: latent.frame_rate x hop_samples must equal "
                                f"audio.sample_rate ({lrate} x {latent['hop_samples']} != {sr})")
    window = manifest["window"]
    # Bounded here: the engine sizes noise and buffers by these before running anything.
    frames = _bounded(_require(window, "frames", mpath, "window."), "window.frames", 1, 100000,
                      mpath)
    overlap = _bounded(window.get("overlap_frames", 0), "window.overlap_frames", 0, 100000, mpath)
    if frames <= 0 or not 0 <= overlap < frames // 2 + 1:
        raise ModelPackageError(f"{mpath}: window.overlap_frames must be in [0, frames/2]")

    text = manifest["text"]
    for key in ("tokenizer", "max_tokens"):
        _require(text, key, mpath, "text.")
    _bounded(text["max_tokens"], "text.max_tokens", 1, 1024, mpath)
    examples = text.get("examples", [])
    if not (isinstance(examples, list) and len(examples) <= 2000 and all(
            isinstance(e, str) and 0 < len(e.strip()) <= 200 for e in examples)):
        raise ModelPackageError(f"{mpath}: text.examples must be a list of at most 2000 prompts "
                                "of 1-200 characters")
    anchor = text.get("anchor")
    if anchor is not None:
        ok = isinstance(anchor, dict) and anchor.get("file") in manifest.get("files", {})
        sim = anchor.get("min_similarity") if isinstance(anchor, dict) else None
        if not ok or isinstance(sim, bool) or not isinstance(sim, (int, float)) \
                or not -1.0 <= sim <= 1.0:
            raise ModelPackageError(f"{mpath}: text.anchor needs a \"file\" listed in \"files\" "
                                    "and a \"min_similarity\" between -1 and 1")

    graphs: dict[str, GraphSpec] = {}
    for role, g in manifest["graphs"].items():
        ins = {k: _dims(v, f"graphs.{role}.inputs.{k}", mpath)
               for k, v in _require(g, "inputs", mpath, f"graphs.{role}.").items()}
        outs = {k: _dims(v, f"graphs.{role}.outputs.{k}", mpath)
                for k, v in _require(g, "outputs", mpath, f"graphs.{role}.").items()}
        variants = _require(g, "variants", mpath, f"graphs.{role}.")
        if not variants:
            raise ModelPackageError(f"{mpath}: graphs.{role} has no variants")
        for p, v in variants.items():
            for key in ("file", "sha256"):
                _require(v, key, mpath, f"graphs.{role}.variants.{p}.")
            wr = v.get("weight_range")   # INT8 weights' largest |q| (engine/cpu.py)
            if wr is not None and not (isinstance(wr, int) and not isinstance(wr, bool)
                                       and 1 <= wr <= 127):
                raise ModelPackageError(f"{mpath}: graphs.{role}.variants.{p}.weight_range must be "
                                        f"an integer from 1 to 127, not {wr!r}")
        graphs[role] = GraphSpec(role, ins, outs, dict(variants))
    for role in GRAPH_ROLES:
        if role not in graphs:
            raise ModelPackageError(f"{mpath}: missing graph \"{role}\"")
    if len(graphs["decoder"].inputs) != 1 or len(graphs["decoder"].outputs) != 1:
        raise ModelPackageError(f"{mpath}: the decoder must have one input and one output")
    if len(graphs["denoiser"].outputs) != 1:
        raise ModelPackageError(f"{mpath}: the denoiser must have one output (the velocity)")

    streams: dict[str, StreamSpec] = {}
    for name, s in manifest["streams"].items():
        ctx = f"streams.{name}."
        graph = _require(s, "graph", mpath, ctx)
        if graph not in graphs:
            raise ModelPackageError(f"{mpath}: {ctx}graph names \"{graph}\", which is not in graphs")
        layout = s.get("layout", "TCHW")
        if layout not in ("TCHW", "NTCHW-windows"):
            raise ModelPackageError(f"{mpath}: {ctx}layout \"{layout}\" is not supported by this "
                                    "engine version (\"TCHW\" or \"NTCHW-windows\")")
        for key, hi in (("width", 8192), ("height", 8192), ("features_per_frame", 4096)):
            _bounded(s.get(key, 1), f"{ctx}{key}", 1, hi, mpath)
        streams[name] = StreamSpec(
            name=name, graph=graph, fps=_rational(_require(s, "fps", mpath, ctx), ctx + "fps", mpath),
            width=int(_require(s, "width", mpath, ctx)), height=int(_require(s, "height", mpath, ctx)),
            mean=tuple(s.get("mean", (0.0, 0.0, 0.0))), std=tuple(s.get("std", (1.0, 1.0, 1.0))),
            layout=layout, features_per_frame=int(s.get("features_per_frame", 1)),
            unconditional=_require(s, "unconditional", mpath, ctx))
        if name not in graphs["denoiser"].inputs:
            raise ModelPackageError(f"{mpath}: the denoiser has no input named after stream "
                                    f"\"{name}\"")
        # Windows must cut the feature sequence at whole tokens.
        for what, n in (("window.frames", frames), ("window step", frames - overlap)):
            tokens = Fraction(n) / lrate * streams[name].feature_rate
            if tokens.denominator != 1:
                raise ModelPackageError(f"{mpath}: {what} ({n} latent frames) is not a whole "
                                        f"number of {name} features ({tokens})")
    for key in FIXED_DENOISER_INPUTS:
        if key not in graphs["denoiser"].inputs:
            raise ModelPackageError(f"{mpath}: the denoiser lacks the input \"{key}\"")
    x_dims = graphs["denoiser"].inputs["x"]
    if len(x_dims) != 3 or (isinstance(x_dims[1], int) and x_dims[1] != int(latent["channels"])) \
            or (isinstance(x_dims[2], int) and x_dims[2] != frames):
        raise ModelPackageError(f"{mpath}: denoiser input x {x_dims} must be [B, latent.channels, "
                                "F] with F = window.frames when fixed")
    ev_dims = graphs["denoiser"].inputs.get(EVENTS_INPUT)
    if ev_dims is not None and (
            len(ev_dims) != 3 or ev_dims[2] != EVENT_CHANNELS
            or (isinstance(ev_dims[1], int) and ev_dims[1] != frames)):
        raise ModelPackageError(f"{mpath}: denoiser input {EVENTS_INPUT} {ev_dims} must be "
                                f"[B, F, {EVENT_CHANNELS}] with F = window.frames when fixed")
    extra = (set(graphs["denoiser"].inputs) - set(FIXED_DENOISER_INPUTS) - set(streams)
             - {EVENTS_INPUT})
    if extra:
        raise ModelPackageError(f"{mpath}: denoiser inputs {sorted(extra)} match no stream")

    sampler = manifest["sampler"]
    _bounded(sampler.get("steps", 10), "sampler.steps", 1, 1000, mpath)
    sr_range = sampler.get("steps_range", [1, 1000])
    if not (isinstance(sr_range, list) and len(sr_range) == 2):
        raise ModelPackageError(f"{mpath}: sampler.steps_range must be [low, high]")
    for v in sr_range:
        _bounded(v, "sampler.steps_range", 1, 1000, mpath)
    if sampler.get("type") != "flow_matching" or sampler.get("prediction", "velocity") != "velocity":
        raise ModelPackageError(f"{mpath}: sampler must be flow_matching with velocity prediction")
    if sampler.get("time", "noise_to_data") not in ("noise_to_data", "data_to_noise"):
        raise ModelPackageError(f"{mpath}: sampler.time must be noise_to_data or data_to_noise")
    med = sampler.get("latent_median", 0)
    if not isinstance(med, int) or isinstance(med, bool) or med < 0 or (med > 1 and med % 2 == 0):
        raise ModelPackageError(f"{mpath}: sampler.latent_median must be 0 or an odd number of "
                                f"frames, got {med!r}")
    vgm = sampler.get("visual_guidance_with_markers")
    if vgm is not None and (not isinstance(vgm, (int, float)) or isinstance(vgm, bool)
                            or EVENTS_INPUT not in graphs["denoiser"].inputs):
        raise ModelPackageError(f"{mpath}: sampler.visual_guidance_with_markers must be a number, "
                                f"for a denoiser with the {EVENTS_INPUT} input")
    mg = sampler.get("marker_guidance", False)
    if not isinstance(mg, bool) or (mg and EVENTS_INPUT not in graphs["denoiser"].inputs):
        raise ModelPackageError(f"{mpath}: sampler.marker_guidance must be true or false, and "
                                f"true only for a denoiser with the {EVENTS_INPUT} input")
    until = sampler.get("visual_guidance_until", 0.0)
    if (not isinstance(until, (int, float)) or isinstance(until, bool)
            or not 0.0 <= float(until) < 1.0):
        raise ModelPackageError(f"{mpath}: sampler.visual_guidance_until must be a noise level "
                                f"in [0, 1), got {until!r}")
    return ModelPackage(path=path, manifest=manifest, graphs=graphs, streams=streams,
                        source=source)


def _source_of(path: Path) -> str:
    try:
        path.resolve().relative_to((resources_dir() / "models").resolve())
        return "shipped"
    except ValueError:
        pass
    dirs = model_search_path()
    if len(dirs) > 1:
        try:
            path.resolve().relative_to(dirs[1].resolve())
            return "user"
        except (ValueError, OSError):
            pass
    return "path"


def _candidates() -> list[Path]:
    out = []
    for base in model_search_path():
        if base.is_dir():
            out.extend(sorted(p for p in base.iterdir() if (p / "manifest.json").is_file()))
    return out


def load_package(path_or_name: str | Path) -> ModelPackage:
    """Load a package by folder path, or by name from the search path (shipped first)."""
    text = str(path_or_name)
    p = Path(text).expanduser()
    looks_like_path = p.is_absolute() or "/" in text or "\\" in text or p.exists()
    if looks_like_path:
        return _parse(p, _source_of(p))
    errors = []
    for cand in _candidates():
        try:
            if (cand / "manifest.json").stat().st_size > MAX_MANIFEST_BYTES:
                continue
            manifest = json.loads((cand / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            # One broken package must not hide the others.
            errors.append(f"{cand / 'manifest.json'}: {type(exc).__name__}")
            continue
        if isinstance(manifest, dict) and manifest.get("name") == text:
            return _parse(cand, _source_of(cand))
    where = ", ".join(str(d) for d in model_search_path())
    raise ModelPackageError(f"no model package named \"{text}\" is installed (looked in {where})")


def list_packages() -> list[PackageSummary]:
    """Every package folder on the search path; a broken one is listed with its error."""
    out = []
    for cand in _candidates():
        source = _source_of(cand)
        try:
            pkg = _parse(cand, source)
        except ModelPackageError as exc:
            out.append(PackageSummary(cand.name, "?", cand, source, "?", "", 0, 0.0, {}, {},
                                      error=str(exc)))
            continue
        m = pkg.manifest
        out.append(PackageSummary(
            name=pkg.name, version=pkg.version, path=cand, source=source,
            license=str(m.get("license", "")), description=str(m.get("description", "")),
            sample_rate=pkg.sample_rate,
            window_seconds=float(Fraction(pkg.window_frames) / pkg.latent_rate),
            variants={r: list(g.variants) for r, g in pkg.graphs.items()}, sizes=pkg.sizes(),
            sampler_defaults={"steps": pkg.sampler.get("steps"),
                              "guidance": pkg.sampler.get("guidance"),
                              "visual_guidance": pkg.sampler.get("visual_guidance"),
                              "method": pkg.sampler.get("default_method", "euler")},
            prompt_examples=list(pkg.text.get("examples", []))))
    return out
