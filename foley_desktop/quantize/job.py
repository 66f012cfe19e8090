"""The quantize job: new precision variants for a package's graphs, written atomically.

    quantize_package(path, "int8-static", clips=[...]) -> summary dict

Every mode first runs the FP32 pipeline on the calibration clips (text-only prompts when none
are given) and records each graph's inputs; static and mixed modes calibrate on them, every mode
reports each new graph's output error against FP32 on them.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from foley_desktop.engine.package import load_package
from foley_desktop.errors import FoleyError
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.quantize import calibrate, dynamic, external, fp16, measure, mixed, static
from foley_desktop.quantize.variants import NewVariant, write_variants

MODES = ("fp16", "int8-dynamic", "int8-static", "int8-mixed")


class QuantizeError(FoleyError):
    """A quantization request that cannot be carried out (bad mode, graph, no samples)."""


def quantize_package(path: str | Path, mode: str, *, clips: list[Path] | None = None,
                     prompts: list[str] | None = None, per_channel: bool = False,
                     exclude: list[str] | None = None, graphs: list[str] | None = None,
                     name: str | None = None, ops: list[str] | None = None,
                     tolerance: float = 0.03, min_speedup: float = mixed.MIN_SPEEDUP,
                     max_error: float = 0.1, steps: int | None = None,
                     allow_shipped: bool = False,
                     progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                     log=print) -> dict:
    if mode not in MODES:
        raise QuantizeError(f"unknown mode {mode!r}; choose {', '.join(MODES)}")
    pkg = load_package(path)
    if pkg.source == "shipped" and not allow_shipped:
        raise QuantizeError(f"{pkg.path} is the shipped copy of {pkg.name}; quantize a copy "
                            "(cp -r it elsewhere) or pass --allow-shipped")
    name = name or mode
    roles = list(graphs or [r for r, g in pkg.graphs.items() if "fp32" in g.variants])
    for r in roles:
        if r not in pkg.graphs:
            raise QuantizeError(f"model package {pkg.name} has no graph {r!r} "
                                f"(has {', '.join(pkg.graphs)})")
        if "fp32" not in pkg.graphs[r].variants:
            raise QuantizeError(f"graph {r} of {pkg.name} has no fp32 variant to start from")
    if name == "fp32":
        raise QuantizeError("the fp32 variant is the source; give the new variant another name")
    meter = ProgressMeter(progress, "quantizing", len(roles) + 1)
    t0 = time.monotonic()
    specs = calibrate.clip_specs(list(clips or []), prompts)
    log(f"calibrating: {len(specs)} clip(s) through the FP32 pipeline")
    cal = calibrate.capture(pkg, specs, steps=steps, cancel=cancel)
    log(f"  recorded {', '.join(f'{r} {n}' for r, n in cal.describe()['samples'].items())} "
        f"input sets ({cal.steps} sampler steps per clip)")
    meter.update(1)
    new: list[NewVariant] = []
    summary: dict[str, Any] = {"package": str(pkg.path), "mode": mode, "variant": name,
               "calibration": cal.describe(), "graphs": {}}
    work = Path(tempfile.mkdtemp(prefix=".quantize-", dir=pkg.path))
    try:
        for i, role in enumerate(roles):
            check(cancel)
            src = pkg.graph_file(role, "fp32")
            dst = work / f"{role}.onnx"
            samples = cal.samples.get(role, [])
            log(f"{role}: {mode}")
            details: dict[str, Any] | None
            if mode == "fp16":
                details = fp16.convert(src, dst, exclude_nodes=exclude)
            elif mode == "int8-dynamic":
                details = dynamic.quantize(src, dst, ops=tuple(ops or dynamic.DEFAULT_OPS),
                                           per_channel=per_channel, exclude_nodes=exclude)
            elif not samples:
                log(f"  skipped: no calibration inputs reached {role} "
                    "(give --calibration clips with a picture)")
                summary["graphs"][role] = {"skipped": "no calibration samples"}
                continue
            elif mode == "int8-static":
                details = static.quantize(src, dst, samples, ops=tuple(ops or static.DEFAULT_OPS),
                                          per_channel=per_channel, exclude_nodes=exclude)
            else:
                details = mixed.quantize(src, dst, samples, tolerance=tolerance,
                                         per_channel=per_channel, exclude_nodes=exclude,
                                         min_speedup=min_speedup, cancel=cancel, log=log)
                if details is None:
                    log(f"  kept FP32: no quantized form of {role} was both accurate and faster")
                    summary["graphs"][role] = {"skipped": "no gain within tolerance (stays fp32)"}
                    continue
            if mode != "fp16" and measure.quantized_nodes(dst) == 0:
                log(f"  kept FP32: nothing in {role} is of a quantized op type")
                summary["graphs"][role] = {"skipped": "no quantizable op (stays fp32)"}
                continue
            if samples:
                probe = measure.subset(samples, 6)
                err = measure.relative_error(dst, probe, measure.reference(src, probe))
                if not math.isfinite(err):
                    why = "fails to run" if math.isnan(err) else "produces NaN/Inf"
                    log(f"  kept FP32: the {mode} graph {why} on the calibration inputs")
                    summary["graphs"][role] = {"skipped": f"{mode} graph {why} (stays fp32)"}
                    continue
                details["error_vs_fp32"] = round(err, 5)
                if err > max_error:
                    log(f"  kept FP32: output error {err:.4g} exceeds --max-error {max_error:g}")
                    summary["graphs"][role] = {"skipped": f"error {err:.4g} > {max_error:g} "
                                               "(stays fp32)", "error_vs_fp32": round(err, 5)}
                    continue
                log(f"  output error vs FP32 (relative RMS, {len(probe)} calibration inputs): "
                    f"{err:.4g}")
            details["bytes_fp32"] = external.total_bytes(src)      # with external weights
            details["bytes"] = external.total_bytes(dst)
            log(f"  {details['bytes_fp32'] / 1e6:.2f} MB -> {details['bytes'] / 1e6:.2f} MB")
            new.append(NewVariant(role, name, dst, mode, details))
            summary["graphs"][role] = details
            meter.update(i + 2)
        check(cancel)
        if not new:
            raise QuantizeError(f"{mode}: no graph of {pkg.name} was quantized (see above)")
        write_variants(pkg.path, new)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    log(f"wrote variant {name!r} for {', '.join(v.role for v in new)} into "
        f"{pkg.path / 'manifest.json'}")
    return summary
