#!/usr/bin/env python3
"""Export a user's Demucs checkpoint (a local file, never a hub) to ONNX for `--backend demucs`.

Needs PyTorch and the `demucs` package (the `train` extra); the app itself then runs the
.onnx with ONNX Runtime, without torch. The graph takes one fixed-length segment
`mix` [1, channels, length] at the model's sample rate and returns `sources`
[1, n_sources, channels, length]; the backend runs it on overlapping segments. Metadata in
the file (sample rate, channels, segment length, source names) tells the backend how.

Supported: the waveform Demucs (v2/v3) class, and HTDemucs (v4) with its STFT and iSTFT
moved outside the graph: the HTDemucs graph takes `mix` and `spec` (the mixture's spectrogram
as real channels, computed by the backend in numpy exactly as HTDemucs does) and returns
`sources` (the time branch) and `spec_out` (the frequency branch's spectrogram, inverted by
the backend and added). HDemucs (v3 hybrid) is not supported. This script lives in scripts/
because the package may not import torch outside the train extra.

Usage: python scripts/export_demucs_onnx.py CHECKPOINT.th OUT.onnx [--segment-s 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_checkpoint(path: Path):
    """A model saved by demucs (`states.serialize_model`: klass, args, kwargs, state).

    Loaded with `weights_only=True`: a checkpoint is a user's file and must never run code. Only
    the Demucs model classes (named by the checkpoint's `klass`) and Fraction (HTDemucs'
    `segment`) are allowed besides tensors and plain containers.
    """
    import fractions

    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import set_state

    allowed = [Demucs, HDemucs, HTDemucs, fractions.Fraction]
    try:
        with torch.serialization.safe_globals(allowed):
            pkg = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal becomes one line
        raise SystemExit(f"{path}: not a Demucs checkpoint this tool can read safely "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if isinstance(pkg, dict) and pkg.get("klass") in (Demucs, HDemucs, HTDemucs):
        model = pkg["klass"](*pkg["args"], **pkg["kwargs"])
        set_state(model, pkg["state"])
        return model
    raise SystemExit(f"{path}: not a Demucs checkpoint (expected demucs' serialized model)")


def _center_trim(tensor, reference):
    import torch

    if isinstance(reference, torch.Tensor) and reference.dim() > 0:
        reference = reference.size(-1)
    delta = int(tensor.size(-1) - reference)
    if delta < 0:
        raise ValueError(f"tensor must be larger than reference. Delta is {delta}.")
    if delta:
        tensor = tensor[..., delta // 2:-(delta - delta // 2)]
    return tensor


class _SpectralIO:
    """Wraps an HTDemucs so its spectrogram comes in and goes out as plain real tensors.

    During tracing, the model's own STFT helpers are replaced: `_magnitude` returns the `spec`
    input, `_mask` records the frequency branch's output and `_ispec` contributes zeros, so
    the traced graph holds only convolutions, attention and arithmetic that ONNX has.
    """

    def __init__(self, model) -> None:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, mix, spec):
                inner = self.inner
                captured = {}
                inner._spec = lambda x: None
                inner._magnitude = lambda z: spec
                inner._mask = lambda z, m: captured.setdefault("m", m)
                b, c, t = mix.shape
                inner._ispec = lambda z, length=None, scale=0: torch.zeros(
                    b, len(inner.sources), c, t)
                try:
                    time_out = inner(mix)
                finally:
                    for name in ("_spec", "_magnitude", "_mask", "_ispec"):
                        delattr(inner, name)
                return time_out, captured["m"]

        self.module = Wrapper(model)


def export(model, out: Path, segment_s: float = 4.0, opset: int = 17) -> Path:
    import demucs.demucs as demucs_module
    import torch
    from demucs.demucs import Demucs
    from demucs.htdemucs import HTDemucs

    if isinstance(model, HTDemucs):
        return _export_htdemucs(model, out, opset)
    if not isinstance(model, Demucs):
        raise SystemExit(f"{type(model).__name__} is not supported yet: the waveform Demucs "
                         "and HTDemucs classes export")
    model.eval()
    sr = int(model.samplerate)
    # A length the convolutions divide evenly, so the model pads nothing; its padding
    # arithmetic on traced shapes would otherwise go wrong in the exporter.
    length = int(model.valid_length(int(segment_s * sr)))
    mix = torch.randn(1, model.audio_channels, length) * 0.1
    fixed = model.valid_length
    model.valid_length = lambda n: length
    # Under the tracer `x.shape[-1]` is a 0-d tensor, which demucs' center_trim takes for a
    # reference tensor; this trim accepts both.
    trim = demucs_module.center_trim
    demucs_module.center_trim = _center_trim
    try:
        with torch.no_grad():
            torch.onnx.export(model, (mix,), str(out), input_names=["mix"],
                              output_names=["sources"], opset_version=opset, dynamo=False)
    finally:
        model.valid_length = fixed
        demucs_module.center_trim = trim
    return _write_meta(out, {"foley.kind": "demucs", "samplerate": str(sr),
                             "audio_channels": str(model.audio_channels),
                             "segment": str(length), "sources": json.dumps(list(model.sources))})


def _write_meta(out: Path, meta: dict) -> Path:
    import onnx

    m = onnx.load(str(out))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(out))
    return out


def _export_htdemucs(model, out: Path, opset: int) -> Path:
    import torch

    if not model.cac:
        raise SystemExit("HTDemucs without complex-as-channels (cac=False) is not supported")
    model.eval()
    sr = int(model.samplerate)
    # The model was trained on (and pads every input to) this length.
    length = int(model.segment * sr)
    hl, nfft = model.hop_length, model.nfft
    frames = -(-length // hl)
    mix = torch.randn(1, model.audio_channels, length) * 0.1
    spec = torch.randn(1, 2 * model.audio_channels, nfft // 2, frames) * 0.1
    wrapper = _SpectralIO(model).module
    # The fused attention kernel of eval mode has no ONNX form; the plain path does.
    torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad():
        torch.onnx.export(wrapper, (mix, spec), str(out), input_names=["mix", "spec"],
                          output_names=["sources", "spec_out"], opset_version=opset,
                          dynamo=False)
    return _write_meta(out, {"foley.kind": "demucs", "variant": "htdemucs",
                             "samplerate": str(sr), "audio_channels": str(model.audio_channels),
                             "segment": str(length), "nfft": str(nfft), "hop": str(hl),
                             "sources": json.dumps(list(model.sources))})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--segment-s", type=float, default=4.0)
    args = ap.parse_args()
    if not args.checkpoint.is_file():
        print(f"no such checkpoint: {args.checkpoint}", file=sys.stderr)
        return 2
    export(load_checkpoint(args.checkpoint), args.out, args.segment_s)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
