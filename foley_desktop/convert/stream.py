"""Exporting and converting graphs whose weights do not fit in memory twice (docs/hunyuan.md).

The XXL denoiser is 5.1 B parameters: 10.3 GB in bf16, 20.5 GB in float32. Exporting it the
usual way holds the float32 model, the exporter's folded copies and the serialised protobuf
at once (~45 GB). Here no whole copy ever exists in anonymous memory:

1. `WeightFile`: the checkpoint's tensors are converted to float32 one at a time and written
   into one file at 64 KiB-aligned offsets; the PyTorch module's parameters are views of that
   file (np.memmap), so they are page cache the kernel can drop, not process memory. Weights
   are stored in the layout the graph's MatMul consumes: nn.Linear transposed ([in, out]),
   token convolutions as [k, in, out] (see `load_into_weight_file`), so the file can become
   the graph's external data as it is.
2. The graph is traced with `export_params=False`, no constant folding and no exporter-side
   shape inference: the weights stay graph inputs named after their parameters, and the
   exporter never copies them.
3. `attach_weights` turns those inputs into initializers that point into the file (folding
   the exporter's Transpose / Reshape nodes and Gemm transB on weights into the stored
   layout), and the file is renamed to `<graph>.onnx.data`.
4. `to_fp16` and `to_int8` read that data through np.memmap and write the variant's data file
   tensor by tensor.

Offsets are 64 KiB-aligned so that onnxruntime can memory-map the external data; with
prepacking off (`check_session`) a CPU session then adds almost nothing to the weights' page
cache, which is how the converter checks a 20 GB graph against PyTorch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypedDict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from foley_desktop.quantize import dynamic

ALIGN = 1 << 16          # 64 KiB: mmap granularity on Windows, a multiple of Linux's page
INLINE_MAX = 1 << 10     # tensors up to 1 KiB stay inside the graph file
_NP: dict[int, type[np.generic]] = {
    TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8,
    TensorProto.UINT8: np.uint8, TensorProto.INT32: np.int32, TensorProto.INT64: np.int64,
    TensorProto.DOUBLE: np.float64, TensorProto.BOOL: np.bool_}
_CHUNK = 1 << 24         # elements per step when converting large tensors


def _stored_shape(shape: tuple[int, ...], perm: tuple[int, ...] | None) -> tuple[int, ...]:
    """A weight's shape as stored: its dims in `perm`'s order (None: as it is)."""
    return tuple(shape[i] for i in perm) if perm else shape


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


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def load_into_weight_file(model, state: dict, path: Path, prefix: str = ""):
    """Give `model` (built on the meta device) the checkpoint's weights as float32 views of a
    `WeightFile` at `path`, converting one tensor at a time. Returns (file, {parameter name:
    the permutation it is stored in, or None}); names carry `prefix` (the export wrapper's
    attribute path).

    A module can ask for its weight to be stored permuted by having a `stored_permutation`
    attribute (hunyuan_model.TokenConv: [k, in, out], what its MatMul form consumes); nn.Linear
    weights are stored transposed ([in, out], what ONNX MatMul consumes)."""
    import torch
    from torch import nn

    wanted = model.state_dict()
    perms: dict[str, tuple[int, ...] | None] = dict.fromkeys(wanted)
    row_orders = {}   # checkpoint key -> rows in the order the module holds them
    for n, m in model.named_modules():
        key = f"{n}.weight" if n else "weight"
        if key in perms:
            if getattr(m, "stored_permutation", None) is not None:
                perms[key] = tuple(m.stored_permutation)
            elif isinstance(m, nn.Linear):
                perms[key] = (1, 0)
        if getattr(m, "stored_row_order", None) is not None:   # hunyuan_model.PackedQKV
            for name in ("weight", "bias"):
                row_orders[f"{n}.{name}" if n else name] = m.stored_row_order
    shapes = {prefix + k: _stored_shape(tuple(v.shape), perms[k]) for k, v in wanted.items()}
    wf = WeightFile(path, shapes)
    tensors = {}
    with torch.no_grad():
        for k in wanted:
            t = state[k].to(torch.float32)
            if k in row_orders:
                t = t[row_orders[k]]
            perm = perms[k]
            v = wf.write(prefix + k, (t.permute(*perm) if perm else t).numpy())
            del t
            view = torch.from_numpy(v)
            tensors[k] = view.permute(*_inverse(perm)) if perm else view
    wf.flush()
    holders = [m for m in model.modules() if getattr(m, "stored_row_order", None) is not None]
    for m in holders:   # the file already holds their rows in the module's order
        m.rows_already_stored = True
    try:
        model.load_state_dict(tensors, assign=True, strict=True)
    finally:
        for m in holders:
            m.rows_already_stored = False
    return wf, {prefix + k: p for k, p in perms.items()}


# ---------------------------------------------------------------- node order


def readiness_order(nodes: list, available: set[str]) -> list:
    """The nodes in the order they become computable (Kahn's algorithm, first ready first
    run), given the values `available` up front (graph inputs, initializers).

    onnxruntime keeps a graph's node order where it can, and the order decides how long each
    intermediate buffer lives. The exporter's order follows the module's code: e.g. a block's
    nine modulation outputs are computed at its start and read until its end. In readiness
    order the INT8 denoiser at the published width (batch 2 x 400 frames) peaked at 0.77 GiB
    instead of 0.90 GiB (onnxruntime's own quantizer re-sorts the same way: 0.78 GiB)."""
    import collections

    waiting: dict[int, int] = {}
    readers: dict[str, list[int]] = collections.defaultdict(list)
    ready: collections.deque[int] = collections.deque()
    for i, n in enumerate(nodes):
        need = {x for x in n.input if x and x not in available}
        waiting[i] = len(need)
        for x in need:
            readers[x].append(i)
        if not need:
            ready.append(i)
    order = []
    while ready:
        i = ready.popleft()
        order.append(nodes[i])
        for out in nodes[i].output:
            for j in readers.get(out, ()):
                waiting[j] -= 1
                if waiting[j] == 0:
                    ready.append(j)
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle or reads a value nothing defines")
    return order


# ---------------------------------------------------------------- attaching weights to a graph


def _constants(g) -> dict[str, np.ndarray]:
    vals = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            vals[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return vals


def _reshaped(dims: tuple[int, ...], spec: np.ndarray) -> tuple[int, ...] | None:
    """ONNX Reshape's output shape for a constant shape (0 = keep, -1 = infer)."""
    out = [dims[i] if s == 0 else int(s) for i, s in enumerate(spec.tolist())]
    total = int(np.prod(dims))
    if out.count(-1) == 1:
        rest = int(np.prod([d for d in out if d != -1]))
        out[out.index(-1)] = total // rest if rest else 0
    return tuple(out) if int(np.prod(out)) == total and min(out, default=0) >= 0 else None


def attach_weights(graph_path: Path, wf: WeightFile, perms: dict[str, tuple[int, ...] | None],
                   keep_inputs: list[str]) -> None:
    """Turn the weight inputs of a graph traced with export_params=False into initializers
    pointing into `wf`'s file, which becomes the graph's external data file.

    The exporter reorients weights with Transpose (Linear: [1, 0]; the MatMul form of a token
    convolution: [2, 1, 0]) and Reshape nodes; where that equals how the weight is stored the
    nodes are dropped and the consumer reads the stored bytes (with the reshaped dims). A
    consumer that wants a weight in another orientation gets a copy appended to the file."""
    model = onnx.load(str(graph_path), load_external_data=False)
    g = model.graph
    weights = {i.name for i in g.input if i.name not in keep_inputs}
    unknown = sorted(weights - set(wf.shapes))
    if unknown:
        raise ValueError(f"graph inputs that are neither inputs nor weights: {unknown[:3]}")
    location = data_path(graph_path).name
    consts = _constants(g)

    # value name -> (weight, dims) for values that are the stored bytes of a weight
    stored: dict[str, tuple[str, tuple[int, ...]]] = {}
    for w in weights:
        if perms[w] is None:
            stored[w] = (w, wf.shapes[w])
    alias: dict[str, str] = {}
    first: dict[tuple[str, tuple[int, ...]], str] = {}   # one initializer per (weight, dims)

    def view(value: str, w: str, dims: tuple[int, ...]) -> None:
        name = first.setdefault((w, dims), value)
        if name == value:
            stored[value] = (w, dims)
        else:
            alias[value] = name

    kept = []
    for n in g.node:
        if not n.input:
            kept.append(n)
            continue
        src = alias.get(n.input[0], n.input[0])
        if n.op_type == "Identity" and (src in weights or src in stored):
            alias[n.output[0]] = src
            continue
        if n.op_type == "Transpose" and src in weights and perms[src] is not None:
            rank = len(wf.shapes[src])
            perm = next((tuple(a.ints) for a in n.attribute if a.name == "perm"),
                        tuple(reversed(range(rank))))
            if perm == perms[src]:
                view(n.output[0], src, wf.shapes[src])
                continue
        if n.op_type == "Reshape" and src in stored and n.input[1] in consts:
            dims = _reshaped(stored[src][1], consts[n.input[1]])
            if dims is not None:
                view(n.output[0], stored[src][0], dims)
                continue
        kept.append(n)
    for n in kept:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
        if n.op_type == "Gemm" and len(n.input) > 1 and n.input[1] in weights and \
                perms[n.input[1]] == (1, 0):
            tb = next((a for a in n.attribute if a.name == "transB"), None)
            if tb is not None and tb.i == 1:
                tb.i = 0
                stored[n.input[1] + ".T"] = (n.input[1], wf.shapes[n.input[1]])
                n.input[1] = n.input[1] + ".T"

    used = {i for n in kept for i in n.input}
    inits = []
    for name, (w, dims) in stored.items():
        if name in used:
            t = wf.tensor(w, dims, location)
            t.name = name
            inits.append(t)
    plain = sorted(w for w in weights if w in used and w not in stored)
    wf.close()
    final = data_path(graph_path)
    os.replace(wf.path, final)
    if plain:   # weights also wanted in their original orientation: append those copies
        with open(final, "r+b") as f:
            f.seek(0, 2)
            size = f.tell()
            for w in plain:
                src = np.memmap(final, dtype=np.float32, mode="r", offset=wf.offsets[w],
                                shape=wf.shapes[w])
                order = perms[w]
                assert order is not None  # plain: the weights stored transposed
                arr = np.ascontiguousarray(src.transpose(_inverse(order)))
                offset = _aligned(size, arr.nbytes)
                f.seek(offset)
                f.write(arr.tobytes())
                size = offset + arr.nbytes
                inits.append(external_tensor(w, TensorProto.FLOAT, arr.shape, final.name,
                                             offset, arr.nbytes))
                del src, arr
    for o in g.output:
        if o.name in weights or o.name in stored:
            raise ValueError(f"a weight is a graph output: {o.name}")
    del g.node[:]
    g.node.extend(readiness_order(kept, {i.name for i in inits} | set(keep_inputs)))
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


def _float32_values(model: onnx.ModelProto) -> set[str]:
    """Names of the values typed float32 (graph inputs, initializers, inferred values); the
    model is the weightless skeleton, so the inference reads structure only."""
    from onnx import shape_inference

    try:
        typed = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - no types known: nothing is treated as float32
        return set()
    g = typed.graph
    names = {v.name for v in (*g.input, *g.value_info, *g.output)
             if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    names |= {i.name for i in g.initializer if i.data_type == TensorProto.FLOAT}
    for n in g.node:   # Constants and Casts to float32 say their type themselves
        if n.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute):
            names.add(n.output[0])
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value" and \
                n.attribute[0].t.data_type == TensorProto.FLOAT:
            names.add(n.output[0])
    return names


def _drop_round_trips(nodes: list, outputs: set[str], float32: set[str]) -> list:
    """Remove float32 -> float16 -> float32 Cast pairs.

    onnxruntime's converter treats every node kept in float32 on its own: it casts the node's
    output to float16 and casts it back to float32 before the next kept node. Between two kept
    nodes that pair rounds a float32 value to 11 significant bits, which defeats keeping the
    chain in float32: the timestep 999 times a frequency loses up to 0.25 rad of phase, and the
    nearest-exact resampling indices (floor((i + 0.5) * in / out)) land on the wrong frame, which
    is where the fp16 denoiser's per-frame outliers came from. The consumer of the second Cast
    reads the float32 value directly instead (only where the first Cast's input is known to be
    float32: `float32`, the values typed float32); Casts nobody reads any more are dropped."""
    producer = {o: n for n in nodes for o in n.output}

    def to(n):
        return next((a.i for a in n.attribute if a.name == "to"), None)

    alias = {}
    for n in nodes:
        if n.op_type == "Cast" and to(n) == TensorProto.FLOAT and n.output[0] not in outputs:
            first = producer.get(n.input[0])
            if first is not None and first.op_type == "Cast" and to(first) == TensorProto.FLOAT16 \
                    and first.input[0] in float32:
                alias[n.output[0]] = first.input[0]
    for n in nodes:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    # drop Casts whose outputs nobody reads (repeat: removing one can orphan its producer)
    while True:
        read = {i for n in nodes for i in n.input} | outputs
        kept = [n for n in nodes if n.op_type != "Cast" or n.output[0] in read]
        if len(kept) == len(nodes):
            return kept
        nodes = kept


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
    half.graph.node.extend(_drop_round_trips(nodes, {o.name for o in half.graph.output}, _float32_values(half)))
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


# INT8 recipes the converter can write (docs/quantization.md, scripts/bench_hunyuan_int8.py):
#   int8          every constant-weight MatMul/Gemm becomes one com.microsoft
#                 DynamicQuantizeMatMul (activations quantised at run time inside the kernel,
#                 bias fused), or, where several products read the same activation, one
#                 DynamicQuantizeLinear shared by their MatMulIntegerToFloat kernels; weights
#                 symmetric per output channel in the 7-bit range -64..64,
#                 which no CPU's int16 pair sums saturate (engine/cpu.py). The default.
#   int8-8bit     the same with full-range weights -127..127: one bit more weight precision on
#                 CPUs with VNNI/AMX (int32 sums); the engine passes it over where it saturates.
#   int8-unfused  the first recipe: per-tensor 7-bit weights, DynamicQuantizeLinear ->
#                 MatMulInteger -> Cast -> Mul nodes that onnxruntime fuses where it can
#                 (kept for comparison: the modulation layers sharing one input missed the
#                 fusion, and per-tensor scales cost accuracy).
class Int8Recipe(TypedDict):
    per_channel: bool
    qmax: int
    fused: bool


INT8_RECIPES: dict[str, Int8Recipe] = {
    "int8": {"per_channel": True, "qmax": dynamic.WEIGHT_QMAX, "fused": True},
    "int8-8bit": {"per_channel": True, "qmax": 127, "fused": True},
    "int8-unfused": {"per_channel": False, "qmax": dynamic.WEIGHT_QMAX, "fused": False},
}


def _peaks(w: np.ndarray, per_channel: bool) -> np.ndarray:
    """max |w| over the whole tensor, or per output column of a [in, out] weight, in chunks of
    rows (the weight is a memory map: it is read once, never copied whole)."""
    cols = w.shape[-1]
    peak = np.zeros(cols if per_channel else 1, np.float32)
    rows = w.reshape(-1, cols)
    step = max(1, _CHUNK // cols)
    for i in range(0, rows.shape[0], step):
        a = np.abs(np.asarray(rows[i:i + step], np.float32))
        peak = np.maximum(peak, a.max(axis=0) if per_channel else a.max(initial=0.0))
    return peak


def _quantize_weight(w: np.ndarray, qmax: int = dynamic.WEIGHT_QMAX,
                     per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric INT8 codes in -qmax..qmax and their float32 scale (one, or one per output
    column of a [in, out] weight), in chunks of rows."""
    peak = _peaks(w, per_channel)
    scale = np.where(peak > 0, peak / np.float32(qmax), np.float32(1.0)).astype(np.float32)
    cols = w.shape[-1]
    rows = w.reshape(-1, cols)
    q = np.empty(rows.shape, np.int8)
    step = max(1, _CHUNK // cols)
    for i in range(0, rows.shape[0], step):
        q[i:i + step] = np.clip(np.rint(np.asarray(rows[i:i + step], np.float32) / scale), -qmax, qmax)
    return q.reshape(w.shape), (scale if per_channel else scale.reshape(()))


def to_int8(src: Path, dst: Path, op_types=("MatMul", "Gemm"), recipe: str = "int8") -> tuple[Path, int]:
    """Dynamic INT8 of every MatMul (and plain Gemm) with a constant 2-D weight, written one
    weight at a time (INT8_RECIPES says what each recipe writes). Returns (dst, number of
    quantized ops)."""
    spec = INT8_RECIPES[recipe]
    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src), load_external_data=False)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
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
            if len(n.input) > 2 and (n.input[2] not in inits or len(inits[n.input[2]].dims) != 1):
                return None   # a bias that is not a constant vector: leave the Gemm float
        return n.input[1]

    # how many weight products read each activation (shared ones are quantised once)
    sharing: dict[str, int] = {}
    for n in g.node:
        if weight_of(n) is not None:
            sharing[n.input[0]] = sharing.get(n.input[0], 0) + 1
    shared_q: dict[str, str] = {}
    try:
        for n in g.node:
            w = weight_of(n)
            if w is None:
                nodes.append(n)
                used.update(n.input)
                continue
            count += 1
            q, scale = _quantize_weight(read(inits[w], src.parent), spec["qmax"], spec["per_channel"])
            tag = f"{n.name or n.output[0]}_q"
            a = n.input[0]
            new_inits.append(put(writer, loc, f"{tag}.w", q))
            new_inits.append(put(writer, loc, f"{tag}.w_scale", scale))
            del q
            out = n.output[0]
            bias = n.input[2] if n.op_type == "Gemm" and len(n.input) > 2 else None
            used.add(a)
            if spec["fused"] and sharing.get(a, 0) > 1:
                # products of the same input (a block's modulations, the gated MLPs' w1/w3)
                # quantise it once and share it: fewer and smaller temporary buffers in
                # onnxruntime's arena (what onnxruntime's own quantizer produces)
                if a not in shared_q:
                    shared_q[a] = f"{tag}.a"
                    nodes.append(helper.make_node(
                        "DynamicQuantizeLinear", [a], [f"{tag}.a", f"{tag}.a_scale", f"{tag}.a_zero"],
                        name=f"{tag}.quant"))
                qa = shared_q[a]
                nodes.append(helper.make_node(
                    "MatMulIntegerToFloat", [qa, f"{tag}.w", f"{qa}_scale", f"{tag}.w_scale", f"{qa}_zero",
                                             "", bias or ""], [out], name=f"{tag}.mmf", domain="com.microsoft"))
                if bias:
                    used.add(bias)
                continue
            if spec["fused"]:
                # one contrib kernel: quantise A, integer GEMM, rescale, add the bias
                nodes.append(helper.make_node(
                    "DynamicQuantizeMatMul", [a, f"{tag}.w", f"{tag}.w_scale", "", bias or ""], [out],
                    name=f"{tag}.dqmm", domain="com.microsoft"))
                if bias:
                    used.add(bias)
                continue
            new_inits.append(numpy_helper.from_array(np.array(0, np.int8), f"{tag}.w_zero"))
            mm_out = f"{tag}.mm" if bias else out
            nodes += [
                helper.make_node("DynamicQuantizeLinear", [a], [f"{tag}.a", f"{tag}.a_scale", f"{tag}.a_zero"],
                                 name=f"{tag}.quant"),
                helper.make_node("MatMulInteger", [f"{tag}.a", f"{tag}.w", f"{tag}.a_zero", f"{tag}.w_zero"],
                                 [f"{tag}.i32"], name=f"{tag}.matmul"),
                helper.make_node("Cast", [f"{tag}.i32"], [f"{tag}.f32"], to=TensorProto.FLOAT, name=f"{tag}.cast"),
                helper.make_node("Mul", [f"{tag}.a_scale", f"{tag}.w_scale"], [f"{tag}.scale"], name=f"{tag}.scale"),
                helper.make_node("Mul", [f"{tag}.f32", f"{tag}.scale"], [mm_out], name=f"{tag}.rescale"),
            ]
            if bias:
                nodes.append(helper.make_node("Add", [mm_out, bias], [out], name=f"{tag}.bias"))
                used.add(bias)
        for init in g.initializer:
            if init.name in used:
                new_inits.append(put(writer, loc, init.name, np.asarray(read(init, src.parent))))
    finally:
        writer.close()
    if writer.size == 0:
        data.unlink()
    del g.node[:]
    g.node.extend(readiness_order(nodes, {i.name for i in new_inits} | {i.name for i in g.input}))
    del g.initializer[:]
    g.initializer.extend(new_inits)
    if spec["fused"] and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
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
