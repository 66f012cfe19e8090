"""Memory and time of `foley-desktop convert hunyuan` on checkpoints of the published sizes.

The real checkpoints cannot be downloaded here, so this writes random ones with the reference's
key names and shapes (the denoiser at the size of --variant, bf16 as published; a DAC-style
VAE decoder, a CLAP text model and a SigLIP image tower at their base sizes), then runs the
converter in a child process and samples its memory every 0.2 s from /proc:

  anonymous   process memory proper (heap, arrays): what has to fit in RAM;
  file        mapped file pages (the memory-mapped checkpoint and weight files): page cache
              the kernel can drop and re-read, shown for completeness.

With --keep, the package stays; --step-only then measures one denoiser evaluation per
precision of that package on the CPU (batch 2 = both guidance halves, --seconds of audio): the
session's load time, one step's wall time and the process's peak memory, each variant in a
fresh process.

Usage (needs the train extra; XXL needs ~75 GB of free disk and takes tens of minutes):
  python scripts/bench_convert_memory.py --variant xxl --workdir /big/disk/bench --keep
  python scripts/bench_convert_memory.py --variant xxl --workdir /big/disk/bench --step-only
  python scripts/bench_convert_memory.py --config my.yaml --workdir /tmp/b

Prints tables and writes <workdir>/convert_memory.json (and step.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _bf16_bits(rng: np.random.Generator, n: int, std: float) -> np.ndarray:
    x = rng.standard_normal(n, dtype=np.float32) * np.float32(std)
    return (x.view(np.uint32) >> 16).astype(np.uint16)


def write_denoiser_checkpoint(cfg, path: Path, seed: int = 0) -> int:
    """Random bf16 weights under the reference's names, saved with torch.save (zip format) from
    a memory-mapped file so that the writer itself stays small. Returns the parameter count."""
    import torch

    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in HunyuanFoleyDenoiser(cfg).state_dict().items()}
    total = sum(int(np.prod(s)) for s in shapes.values())
    raw = path.with_suffix(".raw")
    mm = np.memmap(raw, dtype=np.uint16, mode="w+", shape=(total,))
    rng = np.random.default_rng(seed)
    state, pos = {}, 0
    for k, s in shapes.items():
        n = int(np.prod(s))
        for i in range(0, n, 1 << 24):
            m = min(1 << 24, n - i)
            mm[pos + i:pos + i + m] = _bf16_bits(rng, m, 0.02)
        state[k] = torch.from_numpy(mm[pos:pos + n].view(np.int16)).view(torch.bfloat16).reshape(s)
        pos += n
    mm.flush()
    torch.save(state, path)
    del state, mm
    raw.unlink()
    return total


def write_vae(path: Path, channels: int = 1536, seed: int = 1) -> int:
    import torch

    from foley_desktop.convert.dac_decoder import DacDecoder

    dec = DacDecoder(128, channels, [8, 5, 4, 3, 2])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    torch.save({"state_dict": dec.state_dict(), "metadata": {}}, path)
    return sum(p.numel() for p in dec.parameters())


def write_encoders(root: Path) -> None:
    """A CLAP text model (RoBERTa-base size) and a SigLIP base/16 image tower at 512 px, random,
    with a small word-level tokenizer (the converter copies the tokenizer file as it is)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SiglipConfig, SiglipModel

    torch.manual_seed(0)
    clap = root / "clap"
    ClapTextModelWithProjection(ClapTextConfig(projection_dim=512)).eval().save_pretrained(str(clap))
    words = ["footsteps", "on", "gravel", "noisy", "harsh"]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.save(str(clap / "tokenizer.json"))
    vision = {"image_size": 512, "patch_size": 16, "hidden_size": 768, "num_hidden_layers": 12,
              "num_attention_heads": 12, "intermediate_size": 3072}
    text = {"vocab_size": 64, "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "bos_token_id": None, "eos_token_id": None}
    SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval().save_pretrained(
        str(root / "siglip2"))


def _mem(pid: int) -> tuple[int, int]:
    """(anonymous, file) resident kB of a process and its children."""
    anon = file = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    anon += int(line.split()[1])
                elif line.startswith(("RssFile:", "RssShmem:")):
                    file += int(line.split()[1])
        except OSError:
            pass
    return anon, file


def run_convert(args: list[str], log: Path) -> dict:
    t0 = time.monotonic()
    peak_anon = peak_file = peak_sum = 0
    stage_peaks: dict[str, int] = {}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "foley_desktop.cli", *args], stdout=out,
                                stderr=subprocess.STDOUT)
        while proc.poll() is None:
            anon, file = _mem(proc.pid)
            peak_anon, peak_file = max(peak_anon, anon), max(peak_file, file)
            peak_sum = max(peak_sum, anon + file)
            text = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()
            stage = text[-1][:60] if text else "start"
            stage_peaks[stage] = max(stage_peaks.get(stage, 0), anon)
            time.sleep(0.2)
    return {"rc": proc.returncode, "wall_s": round(time.monotonic() - t0, 1),
            "peak_anon_mb": round(peak_anon / 1024), "peak_file_mb": round(peak_file / 1024),
            "peak_rss_mb": round(peak_sum / 1024),
            "anon_peak_by_progress_line_mb": {k: round(v / 1024) for k, v in stage_peaks.items()}}


_STEP = """
import json, resource, sys, time
import numpy as np
import onnxruntime as ort
from pathlib import Path
root = Path(sys.argv[1]); prec = sys.argv[2]; seconds = float(sys.argv[3]); prepack = sys.argv[4] == "1"
man = json.loads((root / "manifest.json").read_text())
path = root / man["graphs"]["denoiser"]["variants"][prec]["file"]
t0 = time.perf_counter()
so = ort.SessionOptions(); so.log_severity_level = 3
if not prepack:
    so.add_session_config_entry("session.disable_prepacking", "1")
s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
load = time.perf_counter() - t0
shapes = {i.name: i.shape for i in s.get_inputs()}
F = int(50 * seconds)
rng = np.random.default_rng(0)
sizes = {"x": (2, shapes["x"][1], F), "t": (2,), "text_features": (2, 77, shapes["text_features"][2]),
         "text_mask": (2, 77), "siglip2": (2, int(8 * seconds), shapes["siglip2"][2])}
if "synchformer" in shapes:
    sizes["synchformer"] = (2, 8 * max(1, (int(25 * seconds) - 16) // 8 + 1), shapes["synchformer"][2])
feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in sizes.items()}
feeds["t"] = np.array([900.0, 900.0], np.float32); feeds["text_mask"][:] = 1
t0 = time.perf_counter(); s.run(None, feeds); step = time.perf_counter() - t0
print(json.dumps({"precision": prec, "prepacking": prepack, "load_s": round(load, 1), "step_s": round(step, 2),
                  "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))
"""


def measure_steps(package: Path, seconds: float) -> list[dict]:
    import json as _json

    man = _json.loads((package / "manifest.json").read_text())
    rows = []
    for prec in man["graphs"]["denoiser"]["variants"]:
        if prec == "fp16":
            continue   # float16 kernels are for GPUs; the CPU provider runs few of them
        data = package / (man["graphs"]["denoiser"]["variants"][prec]["file"] + ".data")
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        big = data.exists() and data.stat().st_size > 0.4 * ram
        # onnxruntime's default (prepacked copies of the weights: skipped when that copy alone
        # would not fit), and the weights left memory-mapped
        for prepack in (("0",) if big else ("1", "0")):
            out = subprocess.run([sys.executable, "-c", _STEP, str(package), prec, str(seconds),
                                  prepack], capture_output=True, text=True, check=False)
            rows.append(_json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                        else {"precision": prec, "error": out.stderr.strip().splitlines()[-1:]})
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--variant", choices=["xxl", "xl"])
    g.add_argument("--config", type=Path)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--precision", default="fp16,int8")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoints and the package")
    ap.add_argument("--step-only", action="store_true",
                    help="only time one denoiser step per precision of the kept package")
    ap.add_argument("--seconds", type=float, default=1.0, help="audio length of the timed step")
    a = ap.parse_args()
    if a.step_only:
        rows = measure_steps(a.workdir / "package", a.seconds)
        (a.workdir / "step.json").write_text(json.dumps(rows, indent=2))
        print(f"one denoiser evaluation, batch 2, {a.seconds:g} s of audio, CPU, {os.cpu_count()} cores:")
        print("| precision | prepacking | session load | one step | peak RSS |\n|---|---|---|---|---|")
        for r in rows:
            if "error" not in r:
                print(f"| {r['precision']} | {'on' if r['prepacking'] else 'off'} | {r['load_s']} s "
                      f"| {r['step_s']} s | {r['peak_rss_gb']} GiB |")
        return 0

    from foley_desktop.convert.config import CHECKPOINT_FILES, load_config, variant_config

    cfg = variant_config(a.variant) if a.variant else load_config(a.config)
    a.workdir.mkdir(parents=True, exist_ok=True)
    ck = a.workdir / "ckpt"
    ck.mkdir(exist_ok=True)
    ckpt = ck / CHECKPOINT_FILES[a.variant or "xxl"]
    t0 = time.monotonic()
    if not ckpt.exists():
        n = write_denoiser_checkpoint(cfg, ckpt)
        print(f"wrote {ckpt.name}: {n / 1e9:.3f} B parameters, {ckpt.stat().st_size / 1e9:.2f} GB")
    if not (ck / "vae_128d_48k.pth").exists():
        write_vae(ck / "vae_128d_48k.pth")
    if not (a.workdir / "clap").exists():
        write_encoders(a.workdir)
    setup_s = time.monotonic() - t0
    out = a.workdir / "package"
    shutil.rmtree(out, ignore_errors=True)
    args = ["convert", "hunyuan", "--checkpoint-dir", str(ck),
            *(["--variant", a.variant] if a.variant else ["--config", str(a.config)]),
            "--clap", str(a.workdir / "clap"), "--siglip2", str(a.workdir / "siglip2"),
            "-o", str(out), "--precision", a.precision]
    res = run_convert(args, a.workdir / "convert.log")
    res.update({"model": cfg.model_name, "checkpoint_gb": round(ckpt.stat().st_size / 1e9, 2),
                "setup_s": round(setup_s, 1), "ram_gb": round(os.sysconf("SC_PHYS_PAGES") *
                                                               os.sysconf("SC_PAGE_SIZE") / 2**30, 1)})
    if res["rc"] == 0:
        res["package_files_gb"] = {p.name: round(p.stat().st_size / 1e9, 3)
                                   for p in sorted(out.iterdir()) if p.stat().st_size > 1e6}
    (a.workdir / "convert_memory.json").write_text(json.dumps(res, indent=2))
    print(f"\n{cfg.model_name}: checkpoint {res['checkpoint_gb']} GB (bf16), machine RAM {res['ram_gb']} GiB")
    print(f"convert exit code {res['rc']}, wall {res['wall_s']} s")
    print("| peak anonymous | peak mapped files | peak RSS (sum) |")
    print("|---|---|---|")
    print(f"| {res['peak_anon_mb'] / 1024:.2f} GiB | {res['peak_file_mb'] / 1024:.2f} GiB "
          f"| {res['peak_rss_mb'] / 1024:.2f} GiB |")
    for k, v in res.get("package_files_gb", {}).items():
        print(f"  {k}: {v} GB")
    if res["rc"] != 0:
        print((a.workdir / "convert.log").read_text()[-2000:])
    if not a.keep:
        shutil.rmtree(ck, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return res["rc"]


if __name__ == "__main__":
    sys.exit(main())
