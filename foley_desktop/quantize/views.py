"""A package seen as if each graph had exactly one variant, so that the engine's
`precision="auto"` runs precisely that one (the bench and calibration pick variants by name,
including names the engine's `--precision` does not list, such as `int8-mixed`)."""

from __future__ import annotations

from dataclasses import replace

from foley_desktop.engine.package import PRECISIONS, GraphSpec, ModelPackage


def variant_view(pkg: ModelPackage, name: str) -> tuple[ModelPackage, dict[str, str]]:
    """Each graph runs variant `name`, or fp32 where it lacks it, or (a graph shipped without
    fp32, like foley-tiny's INT8-only text encoder) its first standard precision."""
    graphs, picked = {}, {}
    for role, g in pkg.graphs.items():
        pick = name if name in g.variants else "fp32" if "fp32" in g.variants else \
            next((p for p in PRECISIONS if p in g.variants), next(iter(g.variants)))
        graphs[role] = GraphSpec(g.role, g.inputs, g.outputs, {pick: g.variants[pick]})
        picked[role] = pick
    return replace(pkg, graphs=graphs, _arrays={}), picked
