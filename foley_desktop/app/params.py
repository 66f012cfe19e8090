"""A segment's generation parameters, resolved once into one frozen value.

`resolve(segment, preferences)` walks preferences -> segment -> model package once and gives
a `GenParams`: prompt, negative, literal prompt, steps, guidance, picture guidance, precision,
provider, seeds, mode, markers (and what model takes do between them), the model's name,
version and hash (the SHA-256 of its manifest, which lists the SHA-256 of every graph) and the
app's version. The same value builds
the engine's request (`request`), is recorded in every take it makes (`record`, stored as
`Take.params`) and decides what is still to generate (`key`, `seeds_to_run`): a take whose
record has another key was made from other parameters, so Generate makes a new one.

Steps, guidance and picture guidance stay None where the segment leaves them to the model:
the model's hash stands for its defaults in the key, and the values the engine actually used
are recorded beside them (`record(result=...)`, under "effective").
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from foley_desktop import __version__
from foley_desktop.app.preferences import Preferences
from foley_desktop.engine.marker_gate import DEFAULT_MODE as BETWEEN_MARKERS_DEFAULT
from foley_desktop.errors import ModelPackageError
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project.model import Segment

LIBRARY = "library"
# Fields of a take's record that say how the prompt was read or what the engine used: derived
# from the parameters, never compared.
DERIVED = ("prompt_read_as", "prompt_understood", "effective", "key")
# What a take recorded before records carried a key (compared field by field).
_LEGACY = ("mode", "prompt", "negative", "steps", "guidance", "visual_guidance",
           "literal_prompt", "model", "precision", "start", "end", "pinned", "markers")


@dataclass(frozen=True)
class ModelId:
    """Which package: what to load (`ref`, a name or folder), and what it is."""

    ref: str
    name: str
    version: str = ""
    hash: str = ""     # sha256 of manifest.json (which holds every graph's sha256), 16 hex


@lru_cache(maxsize=32)
def _identify(ref: str, mtime_ns: int) -> ModelId:
    from foley_desktop.engine.package import load_package

    pkg = load_package(ref)
    digest = hashlib.sha256((pkg.path / "manifest.json").read_bytes()).hexdigest()[:16]
    return ModelId(ref=ref, name=pkg.name, version=pkg.version, hash=digest)


def identify_model(ref: str | Path | None) -> ModelId:
    """Name, version and hash of a package (by name or folder; None: the default).
    Raises ModelPackageError for one that is not installed or broken."""
    from foley_desktop.engine.generate import DEFAULT_MODEL, load_model

    text = str(ref) if ref else DEFAULT_MODEL
    if text == DEFAULT_MODEL:
        pkg = load_model(None)   # the shipped default, with its "not installed" message
        text = str(pkg.path)
    path = Path(text).expanduser()
    mtime = 0
    if (path / "manifest.json").is_file():
        mtime = (path / "manifest.json").stat().st_mtime_ns
    try:
        ident = _identify(text, mtime)
    except OSError as exc:
        raise ModelPackageError(f"cannot read the model package {text}: {exc}") from None
    return ModelId(ref=str(ref) if ref else ident.name, name=ident.name, version=ident.version,
                   hash=ident.hash)


def check_precision(model: str | Path | None, precision: str | None) -> None:
    """Refuse a precision the model package does not have (GenerationError or
    ModelPackageError, one line), as the engine would when loading it: said when the segment
    is edited or the run is planned, not after other segments' takes were made."""
    if precision in (None, "", "auto"):
        return
    from foley_desktop.engine.generate import load_model, pick_variants

    pick_variants(load_model(model), str(precision), "cpu")


def markers_digest(markers: tuple[tuple[int, str, float], ...]) -> str | None:
    """The markers a take follows, as 16 hex (as takes have recorded them since they carried
    parameters); None without markers."""
    if not markers:
        return None
    text = ",".join(f"{t}:{k}:{s:.4f}" for t, k, s in markers)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GenParams:
    """Everything that makes a segment's takes, resolved (see the module's docstring)."""

    mode: str
    prompt: str
    start: int                      # samples in the clip
    end: int
    model: ModelId                  # ModelId(LIBRARY, LIBRARY) in library mode
    negative: str | None = None     # None: the model's default negative prompt
    literal_prompt: bool = False
    steps: int | None = None        # None: the model's default
    guidance: float | None = None
    visual_guidance: float | None = None
    precision: str = "auto"
    provider: str = "auto"
    seed: int | None = None         # None: fresh random seeds
    variations: int = 1
    markers: tuple[tuple[int, str, float], ...] = ()   # (time, kind, strength) inside the segment
    pinned: tuple[str, ...] = ()    # library mode: recordings chosen by the editor
    # Model takes with markers: "auto" | "quiet" | "keep" between the markers
    # (engine/marker_gate.py; the engine's default, "auto", unless the CLI's flag says).
    between_markers: str = BETWEEN_MARKERS_DEFAULT
    # Flags of `generate CLIP` that segments do not carry (their defaults in projects).
    sampler: str | None = None
    loudness_lufs: float | None = None
    continue_windows: bool = True
    engine_version: str = __version__

    # ---- what the take is made of
    def identity(self) -> dict[str, Any]:
        """The parameters a take is made of (not its seed, the number of variations or where
        it runs): equal identities give the same take for the same seed."""
        return {"mode": self.mode, "prompt": self.prompt, "negative": self.negative,
                "literal_prompt": self.literal_prompt, "steps": self.steps,
                "guidance": self.guidance, "visual_guidance": self.visual_guidance,
                "precision": self.precision, "start": self.start, "end": self.end,
                "markers": markers_digest(self.markers), "pinned": list(self.pinned),
                "model": self.model.name, "model_version": self.model.version,
                "model_hash": self.model.hash, "sampler": self.sampler,
                "loudness_lufs": self.loudness_lufs,
                "continue_windows": self.continue_windows,
                "engine_version": self.engine_version,
                # Only where it can change the audio (model takes with markers), so that
                # takes without markers keep their keys.
                **({"between_markers": self.between_markers}
                   if self.markers and self.mode != LIBRARY else {})}

    @property
    def key(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self, seed: int, result=None) -> dict[str, Any]:
        """What a take made from these parameters records (`Take.params`): the identity, the
        key, the seed and provider it ran with, and from the engine's `result` what it used
        (steps, guidance, picture guidance, sampler) and how it read the prompt."""
        out = {**self.identity(), "key": self.key, "seed": int(seed),
               "provider": self.provider}
        if result is not None:
            out["effective"] = {"steps": result.steps, "guidance": result.guidance,
                                "visual_guidance": result.visual_guidance,
                                "sampler": result.sampler, "provider": result.provider,
                                "variant": result.takes[0].variant if result.takes else ""}
            if getattr(result, "between_markers", None) is not None:
                out["effective"]["between_markers"] = result.between_markers
            if result.prompt_read_as:
                out["prompt_read_as"] = result.prompt_read_as
            if not result.prompt_understood:
                out["prompt_understood"] = False
        return out

    def made(self, recorded: dict[str, Any]) -> bool:
        """Whether a take with this record was made from these parameters. A record without
        a key (takes of earlier versions) is compared on the fields it has."""
        if not recorded:
            return True   # takes from before takes recorded anything count for their seed
        if "key" in recorded:
            return recorded["key"] == self.key
        ident = self.identity()
        ident["model"] = LIBRARY if self.mode == LIBRARY else self.model.ref
        return all(recorded.get(k) == ident.get(k) for k in _LEGACY)

    # ---- what the engine is asked
    def request(self, video: Path | None, seeds: list[int]):
        from foley_desktop.engine.generate import GenerateRequest

        return GenerateRequest(video=video, start=self.start, end=self.end, prompt=self.prompt,
                               negative=self.negative, seeds=list(seeds), steps=self.steps,
                               guidance=self.guidance, sampler=self.sampler,
                               visual_guidance=self.visual_guidance,
                               loudness_lufs=self.loudness_lufs,
                               continue_windows=self.continue_windows,
                               literal_prompt=self.literal_prompt,
                               between_markers=self.between_markers,
                               markers=[(t, s) for t, _k, s in self.markers]
                               if self.markers else None)

    @property
    def marker_seconds(self) -> list[float]:
        """The markers in seconds from the segment's start (for sync scores)."""
        return [(t - self.start) / SAMPLE_RATE for t, _k, _s in self.markers]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve(seg: Segment, prefs: Preferences | None = None, *, model: str | Path | None = None,
            precision: str | None = None, provider: str | None = None) -> GenParams:
    """The parameters of `seg`'s takes: `model`/`precision`/`provider` given explicitly (the
    CLI's flags) win over the segment's own, which win over the preferences. Raises
    ModelPackageError when the model is not installed (model mode only)."""
    prefs = prefs or Preferences()
    inside = tuple((m.time, m.kind, float(m.strength)) for m in seg.markers_inside())
    if seg.mode == LIBRARY:
        ident = ModelId(LIBRARY, LIBRARY)
    else:
        ident = identify_model(model or seg.model or prefs.default_model or None)
    prec = precision if precision not in (None, "", "auto") else \
        (seg.precision if seg.precision != "auto" else prefs.precision)
    prov = provider if provider not in (None, "") else prefs.provider
    return GenParams(mode=seg.mode, prompt=seg.prompt, start=seg.start, end=seg.end,
                     model=ident, negative=seg.negative, literal_prompt=seg.literal_prompt,
                     steps=seg.steps, guidance=seg.guidance,
                     visual_guidance=seg.visual_guidance, precision=prec or "auto",
                     provider=prov or "auto", seed=seg.seed, variations=seg.variations,
                     markers=inside, pinned=tuple(seg.pinned),
                     between_markers=seg.between_markers)


# The segment's own fields a take records, and how the inspector names them.
_SEGMENT_FIELDS = (("prompt", "prompt"), ("negative", "negative"), ("steps", "steps"),
                   ("guidance", "guidance"), ("visual_guidance", "picture guidance"),
                   ("literal_prompt", "prompt as typed"), ("mode", "mode"),
                   ("pinned", "pinned sounds"))


def changed_since(seg: Segment, recorded: dict[str, Any]) -> list[str]:
    """What of the segment has changed since a take with this record was made (names for the
    editor; empty when nothing it recorded differs, or it recorded nothing). Model, precision
    and preferences are not compared here: that needs the package (`GenParams.made`)."""
    if not recorded:
        return []
    out = [label for name, label in _SEGMENT_FIELDS
           if name in recorded and recorded[name] != (list(seg.pinned) if name == "pinned"
                                                      else getattr(seg, name))]
    if ("start" in recorded and "end" in recorded
            and (recorded["start"], recorded["end"]) != (seg.start, seg.end)):
        out.append("span")
    if "markers" in recorded:
        inside = tuple((m.time, m.kind, float(m.strength)) for m in seg.markers_inside())
        if recorded["markers"] != markers_digest(inside):
            out.append("markers")
    return out


def seeds_to_run(seg: Segment, params: GenParams) -> list[int]:
    """The seeds still to generate for `seg`: seed .. seed+K-1 less those that have a take
    made from `params`; with no fixed seed, fresh seeds for the variations that have none."""
    same = [t for t in seg.takes if params.made(t.params)]
    if seg.seed is None:
        missing = max(0, seg.variations - len(same))
        base = secrets.randbelow(2**31 - 64)
        return [base + i for i in range(missing)]
    have = {t.seed for t in same}
    return [s for s in range(seg.seed, seg.seed + seg.variations) if s not in have]
