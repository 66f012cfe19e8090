"""ONNX Runtime sessions for the graphs of a package: verified, checked, cancellable.

A graph's file is hashed before ONNX Runtime sees it; its inputs and outputs are compared with
the manifest (names, ranks, fixed dimensions); each run gets RunOptions whose `terminate` flag a
CancelToken sets, so cancelling stops inside the running graph rather than after it; outputs
containing NaN or Inf are refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from foley_desktop.engine.package import GraphSpec, ModelPackage
from foley_desktop.engine.providers import ProviderChoice, fallback_after_start
from foley_desktop.errors import Cancelled, GenerationError, ModelPackageError
from foley_desktop.jobs import CancelToken

_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
             "tensor(double)": np.float64}


# Above this share of the machine's RAM, a graph's external weights are not prepacked on CPU.
PREPACK_MAX_SHARE = 0.25


def _physical_ram() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):   # not POSIX: assume plenty, keep the default
        return 1 << 60


def keeps_weights_mapped(path: str | os.PathLike, ram: int | None = None) -> bool:
    """Whether a session should leave this graph's weights memory-mapped instead of prepacking
    them: onnxruntime's CPU prepacking copies every MatMul weight into process memory (twice
    the weights in all), which for a large converted graph (XXL fp32: 20.6 GB) would not fit;
    mapped, they are page cache (measured in docs/hunyuan.md: int8 XXL step 4.05 s prepacked,
    5.95 s mapped, same memory). Small graphs keep onnxruntime's default."""
    data = Path(str(path) + ".data")
    if not data.exists():
        return False
    return data.stat().st_size > PREPACK_MAX_SHARE * (ram or _physical_ram())


def _session_options(threads: int | None, path: str | os.PathLike | None = None) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if path is not None and keeps_weights_mapped(path):
        so.add_session_config_entry("session.disable_prepacking", "1")
    # Same graph, same provider, same input -> same bits: avoid thread-count dependent reductions
    # from inter-op parallelism.
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return so


class Runner(Protocol):
    """What the engine runs a graph through: a GraphSession, or a stand-in that forwards to one
    (the quantizer's recorder of calibration inputs)."""

    path: Path
    role: str
    fixed_batch: int | None
    input_types: dict[str, Any]

    def run(self, feeds: dict[str, np.ndarray],
            cancel: CancelToken | None = None) -> list[np.ndarray]: ...


class GraphSession:
    """One graph role at one precision on one provider."""

    def __init__(self, package: ModelPackage, role: str, precision: str,
                 choice: ProviderChoice, threads: int | None = None) -> None:
        self.role = role
        self.precision = precision
        spec = package.graphs[role]
        if precision not in spec.variants:
            raise ModelPackageError(f"model package {package.name}: graph {role} has no "
                                    f"{precision} variant (has {', '.join(spec.variants)})")
        path = package.graph_file(role, precision)   # hash checked here, before loading
        self.path = path
        try:
            self.session = ort.InferenceSession(str(path), sess_options=_session_options(threads, path),
                                                providers=choice.ort_providers(precision))
        except Exception as exc:  # noqa: BLE001 - ORT raises its own unexported exception types
            if choice.name != "cpu":
                # Libraries present but the device could not start: run on CPU, say why.
                self.session = ort.InferenceSession(
                    str(path), sess_options=_session_options(threads, path),
                    providers=ProviderChoice("cpu", choice.requested, None).ort_providers())
                self.choice = ProviderChoice("cpu", choice.requested,
                                 f"{choice.name} could not start ({' '.join(str(exc).split())[:200]}); "
                                 "running on CPU")
                self._check_io(package, spec)
                return
            raise ModelPackageError(f"cannot load {path}: {' '.join(str(exc).split())[:300]}") from None
        self.choice = fallback_after_start(choice, self.session.get_providers())
        self._check_io(package, spec)

    def _check_io(self, package: ModelPackage, spec: GraphSpec) -> None:
        self.input_types = {}
        for kind, declared, actual in (("input", spec.inputs, self.session.get_inputs()),
                                       ("output", spec.outputs, self.session.get_outputs())):
            names = [a.name for a in actual]
            if sorted(names) != sorted(declared):
                raise ModelPackageError(f"{self.path}: graph {kind}s {names} disagree with the "
                                        f"manifest's {list(declared)}")
            for a in actual:
                want = declared[a.name]
                if len(a.shape) != len(want):
                    raise ModelPackageError(f"{self.path}: {kind} {a.name} has rank {len(a.shape)}"
                                            f", the manifest says {want}")
                for have, w in zip(a.shape, want):
                    if isinstance(have, int) and isinstance(w, int) and have != w:
                        raise ModelPackageError(f"{self.path}: {kind} {a.name} has shape "
                                                f"{a.shape}, the manifest says {want}")
                if kind == "input":
                    self.input_types[a.name] = _NP_TYPES.get(a.type, np.float32)
        self.output_names = [o.name for o in self.session.get_outputs()]
        # A batch dimension fixed by the manifest (e.g. a graph exported for B = 2) makes the
        # engine run rows in chunks of that size.
        first: list = next(iter(spec.inputs.values()), [])
        self.fixed_batch = first[0] if first and isinstance(first[0], int) else None

    def run(self, feeds: dict[str, np.ndarray], cancel: CancelToken | None = None) -> list[np.ndarray]:
        if cancel is not None:
            cancel.raise_if_cancelled()
        # fp16 variants may keep float16 I/O: cast at the boundary, compute in float32 outside.
        feeds = {k: np.ascontiguousarray(v, dtype=self.input_types[k]) for k, v in feeds.items()}
        options = ort.RunOptions()
        options.log_severity_level = 3
        unregister = cancel.on_cancel(lambda: setattr(options, "terminate", True)) if cancel else None
        try:
            outs = self.session.run(self.output_names, feeds, options)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own unexported exception types
            if cancel is not None and cancel.cancelled:
                raise Cancelled("cancelled") from None
            raise GenerationError(f"graph {self.role} ({self.path.name}) failed: "
                                  f"{' '.join(str(exc).split())[:300]}") from None
        finally:
            if unregister:
                unregister()
        if cancel is not None:
            cancel.raise_if_cancelled()
        result = []
        for name, out in zip(self.output_names, outs):
            out = np.asarray(out)
            if out.dtype != np.float32 and np.issubdtype(out.dtype, np.floating):
                out = out.astype(np.float32)
            if np.issubdtype(out.dtype, np.floating) and not np.isfinite(out).all():
                raise GenerationError(f"the model produced NaN or Inf in {self.role} output "
                                      f"{name} ({self.path.name}); nothing was written")
            result.append(out)
        return result
