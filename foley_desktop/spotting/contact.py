"""Contact gate: is a motion stop a contact (a hit) or a stop in mid-air (a gesture)?

A small classifier over what `detect.candidates` measures around a stop candidate (the
deceleration, the speed into the winning cell and the frame difference over +-125 ms, how
many cells stop with it, whether its neighbourhood comes to rest, its direction), trained on
physics renders with exact contact times (contact_render.py, scripts/train_contact_gate.py)
and exported to ONNX. Run with ONNX Runtime, one thread. Nothing here imports pybullet or
torch.

Not shipped: on the real dev clips the gates trained so far rank contacts and mid-air stops at
chance (docs/spotting.md, "Round 3"), so no model lies at MODEL_FILE and detector.json sets no
`contact_gate`; detect.select runs a gate only when its params name one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.paths import resources_dir

MODEL_FILE = resources_dir() / "models" / "spotting" / "contact_gate.onnx"
OFFSETS_S = (-0.125, -0.083, -0.042, 0.042, 0.083, 0.125)
FEATURES = ("log_stop", *(f"stop{o:+.3f}" for o in OFFSETS_S), "rest",
            *(f"into{o:+.3f}" for o in OFFSETS_S), *(f"fdiff{o:+.3f}" for o in OFFSETS_S),
            "down", "heading_y", "extent", "nb_rest", "camera")
EPS = 1e-6

_sessions: dict[str, object] = {}


def stop_candidates(c, min_stop: float, camera_busy: float) -> list[int]:
    """Frames the motion cue could accept: a peak of the deceleration at or over `min_stop`,
    a camera slower than `camera_busy`, a picture that is not held (as detect.select)."""
    s = c.stop
    n = len(s)
    return [i for i in range(n) if s[i] >= min_stop and c.camera[i] < camera_busy
            and not c.held[i] and (i == 0 or s[i] >= s[i - 1]) and (i == n - 1 or s[i] > s[i + 1])]


def walker_strikes(c, params: dict) -> np.ndarray:
    """[T] bool: frames where the stance or pose cue accepts a walker's strike."""
    walk = c.stride >= params["stride"]
    if params.get("pose"):
        walk |= c.pose >= params["pose"]
    return walk


def features(c, i: int) -> np.ndarray:
    """The gate's input for candidate frame i of Candidates c (float32, len(FEATURES))."""
    t = c.times_s
    n = len(t)
    dt = float(np.median(np.diff(t))) if n > 1 else 1 / 25

    def at(o: float) -> int:
        return int(np.clip(i + round(o / dt), 0, n - 1))

    s0 = max(float(c.stop[i]), EPS)
    into0 = max(float(c.into[i]), EPS)
    fd0 = max(float(c.frame_diff[i]), EPS)
    f = [np.log(s0)]
    f += [float(c.stop[at(o)]) / s0 for o in OFFSETS_S]
    f += [float(np.clip(1.0 - s0 / into0, -1.0, 1.0))]
    f += [float(c.into[at(o)]) / into0 for o in OFFSETS_S]
    f += [float(c.frame_diff[at(o)]) / fd0 for o in OFFSETS_S]
    f += [float(c.down[i]), float(c.heading[i, 1]), float(c.extent[i]),
          float(np.clip(c.nb_rest[i], 0.0, 3.0)), float(c.camera[i]) / s0]
    out = np.nan_to_num(np.asarray(f, np.float32), nan=0.0, posinf=10.0, neginf=-10.0)
    return np.clip(out, -10.0, 10.0)


def available(model: Path | None = None) -> bool:
    return Path(model or MODEL_FILE).exists()


def _session(model: Path):
    key = str(model)
    if key not in _sessions:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        _sessions[key] = ort.InferenceSession(key, so, providers=["CPUExecutionProvider"])
    return _sessions[key]


def contact_prob(c, idx: list[int], model: Path | None = None) -> np.ndarray:
    """P(contact) for candidate frames `idx` of Candidates c."""
    if not idx:
        return np.zeros(0, np.float32)
    x = np.stack([features(c, i) for i in idx]).astype(np.float32)
    sess = _session(Path(model or MODEL_FILE))
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(-1)
