"""What made a take, in words: the inspector shows it, `project show` prints it.

A take's record (`Take.params`, written by `GenParams.record`) holds every parameter, the
model's name, version and hash and the app's version; takes from earlier versions hold fewer
fields, and this says only what they have.
"""

from __future__ import annotations

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project.model import Take


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe(take: Take) -> list[str]:
    """Lines naming what made `take` (empty for a take that recorded nothing)."""
    p = take.params or {}
    eff = p.get("effective") or {}
    lines = []
    if "prompt" in p:
        line = f"Prompt: {p['prompt']}"
        if p.get("prompt_read_as"):
            line += f" (read as \"{p['prompt_read_as']}\")"
        if take.prompt_used:
            line += f" (conditioned on \"{take.prompt_used}\")"
        lines.append(line)
    if p.get("negative"):
        lines.append(f"Negative: {p['negative']}")
    if take.mode == "library" or p.get("mode") == "library":
        lines.append(f"Library take ({take.version or 'recordings'}), seed {take.seed}"
                     + (f", {len(p['pinned'])} pinned recording(s)" if p.get("pinned") else ""))
    else:
        model = p.get("model") or take.model
        version = p.get("model_version") or take.version
        ident = f"Model: {model} {version}".rstrip()
        if p.get("model_hash"):
            ident += f" (manifest {p['model_hash']})"
        lines.append(ident)
        settings = []
        for name, label in (("steps", "steps"), ("guidance", "guidance"),
                            ("visual_guidance", "picture guidance")):
            v = p.get(name)
            if v is None and eff.get(name) is not None:
                settings.append(f"{label} {_num(eff[name])} (model default)")
            elif v is not None:
                settings.append(f"{label} {_num(v)}")
        if eff.get("sampler"):
            settings.append(f"{eff['sampler']} sampler")
        if p.get("literal_prompt"):
            settings.append("prompt as typed")
        if settings:
            lines.append(", ".join(settings))
        run = [f"seed {take.seed}"]
        if p.get("precision"):
            run.append(f"precision {p['precision']}"
                       + (f" → {take.variant}" if take.variant else ""))
        if take.provider:
            run.append(f"on {take.provider}")
        lines.append(", ".join(run))
    if "start" in p and "end" in p:
        lines.append(f"Segment {p['start'] / SAMPLE_RATE:.3f}–{p['end'] / SAMPLE_RATE:.3f} s"
                     + (", with markers" if p.get("markers") else ""))
    if p.get("engine_version"):
        lines.append(f"Foley Desktop {p['engine_version']}, {take.created}")
    return lines
