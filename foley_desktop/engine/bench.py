"""What `foley-desktop bench` found fastest, for `--precision auto` (the engine reads it; the
bench in foley_desktop/quantize/ writes it).

The bench writes `<user cache dir>/bench/<name>-<version>.json`:

    {"package": {...}, "providers": {"cpu": {"variant": "int8-mixed",
                                             "graphs": {"denoiser": "int8-mixed", ...},
                                             "speedup_vs_fp32": 2.9, "threads": 2}}}

`graphs` maps each graph to the variant to run (only variants whose quality passed the bench's
limits are candidates). `preferred_variants()` returns it
only while every graph file still has the hash the bench measured. generate.pick_variants uses it
for `auto` once the two-line hook in docs/quantization.md is merged; until then the file is
informational and `auto` keeps the engine's fixed order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from foley_desktop.fsutil import atomic_write
from foley_desktop.paths import user_cache_dir

if TYPE_CHECKING:
    from foley_desktop.engine.package import ModelPackage

log = logging.getLogger(__name__)


def findings_path(name: str, version: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{name}-{version}")
    return user_cache_dir() / "bench" / f"{safe}.json"


def write_findings(pkg: ModelPackage, result: dict) -> Path:
    path = findings_path(pkg.name, pkg.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    best = result["fastest_acceptable"]
    all_th = str(max(int(t) for t in result["by_threads"]))
    row = result["by_threads"][all_th][best]
    doc["package"] = {"name": pkg.name, "version": pkg.version,
                      "sha256": {f"{r}/{p}": v["sha256"] for r, g in pkg.graphs.items()
                                 for p, v in g.variants.items()}}
    doc.setdefault("providers", {})[result["provider"]] = {
        "variant": best, "graphs": row["graphs"], "speedup_vs_fp32": row["speedup_vs_fp32"],
        "threads": int(all_th), "quality": row["quality"]}
    with atomic_write(path, "w") as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
    return path


def preferred_variants(package: ModelPackage, provider: str) -> dict[str, str] | None:
    """The bench's per-graph choice for `provider`, or None (no bench run, or the package's
    files changed since: every graph file's hash must still match)."""
    path = findings_path(package.name, package.version)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        choice = doc["providers"][provider]["graphs"]
        hashes = doc["package"]["sha256"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the bench findings in %s (%s: %s)", path, type(exc).__name__, exc)
        return None
    for role, p in choice.items():
        v = package.graphs[role].variants.get(p) if role in package.graphs else None
        if v is None or hashes.get(f"{role}/{p}") != v["sha256"]:
            log.info("the bench findings in %s are for other files of %s (%s/%s): not used",
                     path, package.name, role, p)
            return None
    return dict(choice)
