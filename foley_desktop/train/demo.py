"""Renders resources/demo/: an 8 s clip drawn by the scene generator from held-out recordings
(footsteps on gravel), H.264 + AAC in MP4, with its event times as JSON.

    python -m foley_desktop.train.demo
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from foley_desktop.media.wav import write_wav

from .codec import SR
from .paths import REPO
from .scenes import FPS, Scene
from .sounds import cached_bank

OUT = REPO / "resources/demo"
NAME = "footsteps_gravel"
SCALE = 4          # drawn at 64x64, shown at 256x256 (nearest: crisp pixels)


def render(seed: int = 7) -> Path:
    bank = cached_bank()
    scene = Scene(bank, "eval", seconds=8.0)
    rng = np.random.Generator(np.random.PCG64(seed))
    clip = scene.make(rng, "footsteps_gravel", aug=False, mix_p=0.0)
    OUT.mkdir(parents=True, exist_ok=True)
    frames = clip.frames.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    with tempfile.TemporaryDirectory() as td:
        wav = Path(td) / "a.wav"
        write_wav(wav, clip.audio, SR)
        mp4 = OUT / f"{NAME}.mp4"
        h, w = frames.shape[1:3]
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-", "-i", str(wav),
               "-c:v", "libx264", "-preset", "slow", "-crf", "23", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "96k", "-ar", str(SR), "-ac", "1", "-shortest",
               "-movflags", "+faststart", str(mp4)]
        subprocess.run(cmd, input=frames.tobytes(), check=True)
    rec = sorted({r.path for r in bank if r.cls == "footsteps_gravel" and r.split == "eval"})
    (OUT / f"{NAME}.json").write_text(json.dumps({
        "clip": mp4.name, "seconds": 8.0, "fps": FPS, "sample_rate": SR,
        "caption": "footsteps on gravel",
        "events_samples": [int(e) for e in clip.events],
        "events_seconds": [round(e / SR, 4) for e in clip.events],
        "note": "events are the sample positions where a footstep recording's onset was placed "
                "and where a foot lands in the picture",
        "recordings": rec}, indent=1) + "\n")
    return mp4


if __name__ == "__main__":
    print(render())
