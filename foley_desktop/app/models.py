"""The installed model packages and where they would run, for the window's inspector.

`installed(prefs)` lists the packages that load (names, the default one, their sampler
defaults and prompt examples); `provider_report(prefs)` says which provider would run and what
the default model's precisions would be there (an old 8-bit INT8 variant is passed over on a
CPU without VNNI, engine/cpu.py: the user should know why). The report probes CUDA/TensorRT
libraries, which takes a moment: the window runs it on a worker thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from foley_desktop.app.preferences import Preferences
from foley_desktop.errors import FoleyError


@dataclass(frozen=True)
class Installed:
    names: list[str] = field(default_factory=list)
    default: str = ""
    sampler_defaults: dict[str, dict] = field(default_factory=dict)
    prompt_examples: dict[str, list[str]] = field(default_factory=dict)


def installed(prefs: Preferences) -> Installed:
    from foley_desktop.engine.generate import DEFAULT_MODEL
    from foley_desktop.engine.package import list_packages

    packages = [p for p in list_packages() if p.error is None]
    return Installed([p.name for p in packages], prefs.default_model or DEFAULT_MODEL,
                     {p.name: {**p.sampler_defaults, **_marker_defaults(p.path)}
                      for p in packages},
                     {p.name: p.prompt_examples for p in packages})


def _marker_defaults(package_path) -> dict:
    """The picture guidance a package uses when the segment has markers instead of its plain
    default (manifest sampler.visual_guidance_with_markers; foley-tiny: 1 instead of 6), so the
    inspector shows the value the take will record."""
    import json
    from pathlib import Path

    try:
        sampler = json.loads((Path(package_path) / "manifest.json").read_text()).get("sampler", {})
    except (OSError, ValueError, AttributeError):
        return {}
    vgm = sampler.get("visual_guidance_with_markers") if isinstance(sampler, dict) else None
    return {"visual_guidance_with_markers": vgm} if isinstance(vgm, (int, float)) else {}


def provider_report(prefs: Preferences) -> str:
    """First line: the provider that would run (and a short precision warning); further
    lines: why a better provider is not used, and the precision notes."""
    from foley_desktop.engine.generate import DEFAULT_MODEL, load_model, pick_variants
    from foley_desktop.engine.providers import choose

    choice = choose(prefs.provider)
    notes: list[str] = []
    # A package that cannot load is reported when generating, with its message.
    with contextlib.suppress(FoleyError):
        pick_variants(load_model(prefs.default_model or DEFAULT_MODEL), prefs.precision,
                      choice.name, notes)
    text = f"provider: {choice.name} (requested: {choice.requested})"
    if notes:
        text += " — INT8 passed over" if prefs.precision == "auto" else " — INT8 saturates"
    if choice.fallback_reason:
        text += f"\n{choice.fallback_reason}"
    for note in notes:
        text += f"\nprecision: {note}"
    return text
