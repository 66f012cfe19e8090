"""Exporting and converting graphs whose weights do not fit in memory twice (docs/hunyuan.md).

The XXL denoiser is 5.1 B parameters: 10.3 GB in bf16, 20.5 GB in float32. Exporting it the
usual way holds the float32 model, the exporter's folded copies and the serialised protobuf
at once (~45 GB). Here no whole copy ever exists in anonymous memory:

1. `WeightFile`: the checkpoint's tensors are converted to float32 one at a time and written
   into one file at 64 KiB-aligned offsets; the PyTorch module's parameters are views of that
   file (np.memmap), so they are page cache the kernel can drop, not process memory. Weights
   of nn.Linear layers are stored transposed ([in, out]): that is the orientation the ONNX
   MatMul wants, so the file can become the graph's external data as it is.
2. The graph is traced with `export_params=False` and no constant folding: the weights stay
   graph inputs named after their parameters, and the exporter never copies them.
3. `attach_weights` turns those inputs into initializers that point into the file (folding
   the exporter's Transpose nodes and Gemm transB into the stored orientation), and the file
   is renamed to `<graph>.onnx.data`.
4. `to_fp16` and `to_int8` read that data through np.memmap and write the variant's data file
   tensor by tensor.

Offsets are 64 KiB-aligned so that onnxruntime can memory-map the external data; with
prepacking off (`check_session`) a CPU session then adds almost nothing to the weights' page
cache, which is how the converter checks a 20 GB graph against PyTorch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ALIGN = 1 << 16          # 64 KiB: mmap granularity on Windows, a multiple of Linux's page
INLINE_MAX = 1 << 10     # tensors up to 1 KiB stay inside the graph file
_NP = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8,
       TensorProto.UINT8: np.uint8, TensorProto.INT32: np.int32, TensorProto.INT64: np.int64,
       TensorProto.DOUBLE: np.float64, TensorProto.BOOL: np.bool_}
_CHUNK = 1 << 24         # elements per step when converting large tensors


def _aligned(n: int, nbytes: int = ALIGN) -> int:
    """Where a tensor of `nbytes` starts at or after `n`: large tensors on a 64 KiB boundary
    (what memory-mapping needs), small ones on 64 bytes (so small graphs carry no padding)."""
    a = ALIGN if nbytes >= (1 << 20) else 64
    return (n + a - 1) // a * a


def data_path(graph: Path) -> Path:
    graph = Path(graph)
    return graph.with_name(graph.name + ".data")


# ---------------------------------------------------------------- writing data files


class DataWriter:
    """Appends arrays to one external-data file at aligned offsets."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.f = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.size = 0

    def append(self, arr: np.ndarray) -> tuple[int, int]:
        arr = np.ascontiguousarray(arr)
        offset = _aligned(self.size, arr.nbytes)
        self.f.seek(offset)
        flat = arr.reshape(-1)
        for i in range(0, flat.size, _CHUNK):
            self.f.write(flat[i:i + _CHUNK].tobytes())
        self.size = offset + arr.nbytes
        return offset, arr.nbytes

    def close(self) -> None:
        self.f.truncate(self.size)
        self.f.close()


def external_tensor(name: str, dtype: int, dims, location: str, offset: int, length: int) -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(int(d) for d in dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def put(writer: DataWriter | None, location: str, name: str, arr: np.ndarray) -> TensorProto:
    """A tensor: inline when small (or when there is no writer), else appended to the file."""
    if writer is None or arr.nbytes <= INLINE_MAX:
        return numpy_helper.from_array(np.ascontiguousarray(arr), name)
    dtype = helper.np_dtype_to_tensor_dtype(arr.dtype)
    offset, length = writer.append(arr)
    return external_tensor(name, dtype, arr.shape, location, offset, length)


def read(init: TensorProto, folder: Path) -> np.ndarray:
    """A tensor's values: memory-mapped when external, decoded when inline."""
    if init.data_location != TensorProto.EXTERNAL:
        return numpy_helper.to_array(init)
    info = {e.key: e.value for e in init.external_data}
    dtype = _NP[init.data_type]
    count = int(np.prod(init.dims)) if len(init.dims) else 1
    arr = np.memmap(Path(folder) / info["location"], dtype=dtype, mode="r",
                    offset=int(info.get("offset", 0)), shape=(count,))
    return arr.reshape(tuple(init.dims))


# ---------------------------------------------------------------- the weight file


class WeightFile:
    """float32 tensors at aligned offsets in one file; readable while it is being filled."""

    def __init__(self, path: Path, shapes: dict[str, tuple[int, ...]]):
        self.path = Path(path)
        self.offsets: dict[str, int] = {}
        self.shapes = {k: tuple(int(d) for d in s) for k, s in shapes.items()}
        pos = 0
        for name, shape in self.shapes.items():
            n = 4 * int(np.prod(shape))
            pos = _aligned(pos, n)
            self.offsets[name] = pos
            pos += n
        self.size = max(pos, 1)
        with open(self.path, "wb") as f:
            f.truncate(self.size)
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r+", shape=(self.size,))

    def view(self, name: str) -> np.ndarray:
        shape = self.shapes[name]
        n = 4 * int(np.prod(shape))
        o = self.offsets[name]
        return self._map[o:o + n].view(np.float32).reshape(shape)

    def write(self, name: str, arr) -> np.ndarray:
        v = self.view(name)
        v[...] = arr
        return v

    def flush(self) -> None:
        self._map.flush()

    def tensor(self, name: str, dims, location: str) -> TensorProto:
        n = 4 * int(np.prod(self.shapes[name]))
        return external_tensor(name, TensorProto.FLOAT, dims, location, self.offsets[name], n)

    def close(self) -> None:
        self.flush()
        del self._map


def load_into_weight_file(model, state: dict, path: Path, prefix: str = ""):
    """Give `model` (built on the meta device) the checkpoint's weights as float32 views of a
    `WeightFile` at `path`, converting one tensor at a time. Returns (file, {parameter name:
    stored transposed?}); names carry `prefix` (the export wrapper's attribute path)."""
    import torch
    from torch import nn

    wanted = model.state_dict()
    linear = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    transposed = {k: k in linear for k in wanted}
    shapes = {prefix + k: (tuple(reversed(v.shape)) if transposed[k] else tuple(v.shape))
              for k, v in wanted.items()}
    wf = WeightFile(path, shapes)
    tensors = {}
    with torch.no_grad():
        for k in wanted:
            t = state[k].to(torch.float32)
            v = wf.write(prefix + k, (t.T if transposed[k] else t).numpy())
            del t
            view = torch.from_numpy(v)
            tensors[k] = view.T if transposed[k] else view
    wf.flush()
    model.load_state_dict(tensors, assign=True, strict=True)
    return wf, {prefix + k: f for k, f in transposed.items()}


# ---------------------------------------------------------------- attaching weights to a graph


def attach_weights(graph_path: Path, wf: WeightFile, transposed: dict[str, bool],
                   keep_inputs: list[str]) -> None:
    """Turn the weight inputs of a graph traced with export_params=False into initializers
    pointing into `wf`'s file, which becomes the graph's external data file."""
    model = onnx.load(str(graph_path), load_external_data=False)
    g = model.graph
    weights = {i.name for i in g.input if i.name not in keep_inputs}
    unknown = sorted(weights - set(wf.shapes))
    if unknown:
        raise ValueError(f"graph inputs that are neither inputs nor weights: {unknown[:3]}")
    location = data_path(graph_path).name
    alias: dict[str, str] = {}        # Identity outputs the exporter made for shared weights
    nodes = []
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in weights:
            alias[n.output[0]] = n.input[0]
            continue
        nodes.append(n)
    for n in nodes:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]

    # which orientation each consumer needs: stored ([in, out] for linear layers) or its reverse
    need: dict[tuple[str, bool], str] = {}   # (weight, as stored?) -> initializer name
    kept = []
    renames: dict[str, str] = {}

    def ref(w: str, stored: bool, name: str | None = None) -> str:
        key = (w, stored)
        if key not in need:
            need[key] = name or (w if stored else f"{w}.T")
        return need[key]

    for n in nodes:
        if n.op_type == "Transpose" and n.input[0] in weights:
            perm = next((list(a.ints) for a in n.attribute if a.name == "perm"), None)
            if len(wf.shapes[n.input[0]]) == 2 and perm in (None, [1, 0]):
                # stored transposed -> the transpose of the parameter is the stored tensor
                w = n.input[0]
                renames[n.output[0]] = ref(w, transposed[w], n.output[0])
                continue
        kept.append(n)
    for n in kept:
        for i, name in enumerate(n.input):
            if name in renames:
                n.input[i] = renames[name]
    for n in kept:
        done = set()
        if n.op_type == "Gemm" and len(n.input) > 1 and n.input[1] in weights:
            w = n.input[1]
            tb = next((a for a in n.attribute if a.name == "transB"), None)
            if tb is not None and tb.i == 1 and transposed[w]:
                tb.i = 0
                n.input[1] = ref(w, True)
                done.add(1)
        for i, name in enumerate(n.input):
            if name in weights and i not in done:
                # the parameter itself: the stored tensor unless it was stored transposed
                n.input[i] = ref(name, not transposed[name])
    for name in g.output:
        if name.name in weights:
            raise ValueError(f"a weight is a graph output: {name.name}")

    extra = [(w, stored, init) for (w, stored), init in need.items() if not stored]
    inits = []
    for (w, stored), init_name in need.items():
        shape = wf.shapes[w]
        if stored:
            inits.append(wf.tensor(w, shape, location))
            inits[-1].name = init_name
    wf.close()
    final = data_path(graph_path)
    os.replace(wf.path, final)
    if extra:   # a few weights are also needed the other way round: append those
        with open(final, "r+b") as f:
            f.seek(0, 2)
            size = f.tell()
            for w, _, init_name in extra:
                src = np.memmap(final, dtype=np.float32, mode="r", offset=wf.offsets[w],
                                shape=wf.shapes[w])
                arr = np.ascontiguousarray(src.T)
                offset = _aligned(size, arr.nbytes)
                f.seek(offset)
                f.write(arr.tobytes())
                size = offset + arr.nbytes
                inits.append(external_tensor(init_name, TensorProto.FLOAT, arr.shape, final.name,
                                             offset, arr.nbytes))
                del src, arr
    del g.node[:]
    g.node.extend(kept)
    inputs = [i for i in g.input if i.name in keep_inputs]
    del g.input[:]
    g.input.extend(inputs)
    g.initializer.extend(inits)
    onnx.save_model(model, str(graph_path))


# ---------------------------------------------------------------- precision variants


def _skeleton(model: onnx.ModelProto) -> dict[str, TensorProto]:
    """Strip the external initializers' data references (kept aside, by name) so that graph
    passes written for in-memory models can run on the structure alone."""
    ext = {}
    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            ext[init.name] = TensorProto()
            ext[init.name].CopyFrom(init)
            del init.external_data[:]
            init.data_location = TensorProto.DEFAULT
            init.ClearField("raw_data")
    return ext


def _fp16(arr: np.ndarray) -> np.ndarray:
    # as onnxruntime's converter does: clamp to the float16 range, keep tiny values nonzero
    out = np.empty(arr.shape, np.float16)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i in range(0, flat_in.size, _CHUNK):
        x = np.asarray(flat_in[i:i + _CHUNK], np.float32)
        a = np.abs(x)
        x = np.where((a > 0) & (a < 5.96e-08), np.sign(x) * 5.96e-08, x)
        flat_out[i:i + _CHUNK] = np.clip(x, -65504.0, 65504.0).astype(np.float16)
    return out


def to_fp16(src: Path, dst: Path, op_block_list: list[str], node_block_list_fn) -> Path:
    """float16 weights and compute, float32 inputs/outputs; external weights converted one
    at a time. `node_block_list_fn(model)` names nodes kept in float32."""
    from onnxruntime.transformers import float16

    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src), load_external_data=False)
    ext = _skeleton(model)
    # the converter reads an initializer's shape by decoding its values, which the skeleton
    # does not hold: for the duration of the call it reads the declared dims instead
    original = float16.make_value_info_from_tensor
    float16.make_value_info_from_tensor = lambda t: helper.make_tensor_value_info(
        t.name, t.data_type, list(t.dims))
    try:
        half = float16.convert_float_to_float16(model, keep_io_types=True,
                                                op_block_list=op_block_list,
                                                node_block_list=node_block_list_fn(model))
    finally:
        float16.make_value_info_from_tensor = original
    # the converter can insert the same Cast twice (a value feeding several kept nodes); the
    # copies define the same value, so all but the first are dropped
    defined: set[str] = set()
    nodes = []
    for node in half.graph.node:
        if node.op_type == "Cast" and node.output[0] in defined:
            continue
        defined.update(node.output)
        nodes.append(node)
    del half.graph.node[:]
    half.graph.node.extend(nodes)
    _write_variant(half, ext, src.parent, dst,
                   lambda init, arr: _fp16(arr) if init.data_type == TensorProto.FLOAT16 else arr)
    return dst


def _write_variant(model: onnx.ModelProto, ext: dict[str, TensorProto], folder: Path, dst: Path,
                   convert) -> None:
    """Fill the skeleton's external initializers from the source data (through `convert(new
    initializer, source array)`) into `dst`'s own data file, then save `dst`."""
    dst = Path(dst)
    data = data_path(dst)
    writer = DataWriter(data) if ext else None
    try:
        inits = []
        for init in model.graph.initializer:
            if init.name not in ext:
                inits.append(init)
                continue
            arr = convert(init, read(ext[init.name], folder))
            inits.append(put(writer, data.name, init.name, arr))
            del arr
        del model.graph.initializer[:]
        model.graph.initializer.extend(inits)
    finally:
        if writer is not None:
            writer.close()
    onnx.save_model(model, str(dst))


def _quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Symmetric per-tensor INT8 (what onnxruntime's dynamic quantisation does by default)."""
    peak = 0.0
    flat = w.reshape(-1)
    for i in range(0, flat.size, _CHUNK):
        peak = max(peak, float(np.abs(flat[i:i + _CHUNK]).max(initial=0.0)))
    scale = np.float32(peak / 127.0 if peak > 0 else 1.0)
    q = np.empty(w.shape, np.int8)
    qf = q.reshape(-1)
    for i in range(0, flat.size, _CHUNK):
        qf[i:i + _CHUNK] = np.clip(np.rint(np.asarray(flat[i:i + _CHUNK], np.float32) / scale), -127, 127)
    return q, scale


def to_int8(src: Path, dst: Path, op_types=("MatMul", "Gemm")) -> tuple[Path, int]:
    """Dynamic INT8: every MatMul (and plain Gemm) with a constant 2-D weight becomes
    DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul (onnxruntime fuses that into its
    DynamicQuantizeMatMul kernel), weights int8 symmetric per tensor. Returns (dst, number of
    quantized ops)."""
    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src), load_external_data=False)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    data = data_path(dst)
    writer = DataWriter(data)
    loc = data.name
    nodes, new_inits, used = [], [], set()
    count = 0

    def weight_of(n):
        if n.op_type not in op_types or len(n.input) < 2 or n.input[1] not in inits:
            return None
        if len(inits[n.input[1]].dims) != 2 or inits[n.input[1]].data_type != TensorProto.FLOAT:
            return None
        if n.op_type == "Gemm":
            attrs = {a.name: a for a in n.attribute}
            if any(attrs[k].i for k in ("transA", "transB") if k in attrs) or \
                    any(attrs[k].f != 1.0 for k in ("alpha", "beta") if k in attrs):
                return None
        return n.input[1]

    try:
        for n in g.node:
            w = weight_of(n)
            if w is None:
                nodes.append(n)
                used.update(n.input)
                continue
            count += 1
            q, scale = _quantize_weight(read(inits[w], src.parent))
            tag = f"{n.name or n.output[0]}_q"
            a = n.input[0]
            new_inits.append(put(writer, loc, f"{tag}.w", q))
            new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), f"{tag}.w_scale"))
            new_inits.append(numpy_helper.from_array(np.array(0, np.int8), f"{tag}.w_zero"))
            del q
            out = n.output[0]
            mm_out = f"{tag}.mm" if n.op_type == "Gemm" and len(n.input) > 2 else out
            nodes += [
                helper.make_node("DynamicQuantizeLinear", [a], [f"{tag}.a", f"{tag}.a_scale", f"{tag}.a_zero"],
                                 name=f"{tag}.quant"),
                helper.make_node("MatMulInteger", [f"{tag}.a", f"{tag}.w", f"{tag}.a_zero", f"{tag}.w_zero"],
                                 [f"{tag}.i32"], name=f"{tag}.matmul"),
                helper.make_node("Cast", [f"{tag}.i32"], [f"{tag}.f32"], to=TensorProto.FLOAT, name=f"{tag}.cast"),
                helper.make_node("Mul", [f"{tag}.a_scale", f"{tag}.w_scale"], [f"{tag}.scale"], name=f"{tag}.scale"),
                helper.make_node("Mul", [f"{tag}.f32", f"{tag}.scale"], [mm_out], name=f"{tag}.rescale"),
            ]
            used.add(a)
            if mm_out != out:
                nodes.append(helper.make_node("Add", [mm_out, n.input[2]], [out], name=f"{tag}.bias"))
                used.add(n.input[2])
        for init in g.initializer:
            if init.name in used:
                new_inits.append(put(writer, loc, init.name, np.asarray(read(init, src.parent))))
    finally:
        writer.close()
    if writer.size == 0:
        data.unlink()
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    onnx.save_model(model, str(dst))
    return dst, count


# ---------------------------------------------------------------- running a check


def check_session(path: Path):
    """A CPU session that memory-maps the graph's external weights and does not repack them
    (prepacking copies every MatMul weight into process memory)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if data_path(path).exists():
        so.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
