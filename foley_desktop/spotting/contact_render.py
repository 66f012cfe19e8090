"""Physics renders with exact labels for the contact gate (contact.py): training data only.

Each clip is a small pybullet scene (headless TinyRenderer, no display) filmed by a camera
that shakes a little, with photographic textures on the floor, the wall, the table and the
objects (photographs shipped in Debian's opencv-doc), motion blur (sub-frames averaged),
sensor noise and H.264 compression. Two kinds of clip:

- ``contact``: things dropped or thrown onto the floor, a table or each other, or swung into
  the wall by a "hand" (a velocity held until the first touch). Every contact's time comes
  from pybullet itself (the first physics step with a new contact point, at 240 Hz) with its
  impact speed along the contact normal.
- ``midair``: the same things moved kinematically (no collision shape at all, so nothing can
  touch) along paths that stop, ease out or reverse in mid-air (swipes, recoils, a waving
  hand, an arm swinging about a shoulder), or a camera pan that stops. Each stop's time is
  known from the path.

Both kinds may carry a distractor: a thing drifting at a constant speed (it never stops).
pybullet is an optional dependency (``pip install pybullet``), imported only here.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from foley_desktop.fsutil import atomic_write

PHYSICS_HZ = 240
G = 9.81
STRONG_IMPACT = 0.8        # m/s along the normal: a contact you would hear (labelled positive)
TEXTURE_DIR = Path("usr/share/doc/opencv-doc/examples/data")
TEXTURES = ("aero1.jpg", "aero3.jpg", "baboon.jpg", "board.jpg", "building.jpg", "fruits.jpg",
            "home.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "apple.jpg",
            "butterfly.jpg", "aloeL.jpg", "lena.jpg", "starry_night.jpg", "graf1.png",
            "left01.jpg", "sudoku.png", "HappyFish.jpg", "blox.jpg", "pic1.png")


@dataclass
class Label:
    kind: str                      # "contact" or "midair"
    scene: str                     # what was filmed (drop, throw, swing, stop, recoil, ...)
    fps: int
    width: int
    height: int
    n_frames: int
    contacts: list[dict] = field(default_factory=list)  # {t, speed, a, b} from pybullet
    stops: list[dict] = field(default_factory=list)     # {t, how} scripted mid-air stops
    seed: int = 0


def textures(media_root: Path) -> list[Path]:
    d = Path(media_root) / TEXTURE_DIR
    return [d / n for n in TEXTURES if (d / n).exists()]


class _Scene:
    """One pybullet world (DIRECT: no window) with a textured floor, wall and maybe a table."""

    def __init__(self, rng: np.random.Generator, tex: list[Path], width: int, height: int):
        import pybullet as p
        self.p = p
        self.rng = rng
        self.cid = p.connect(p.DIRECT)
        p.setGravity(0, 0, -G, physicsClientId=self.cid)
        p.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=self.cid)
        self.width, self.height = width, height
        self.tex_ids = [p.loadTexture(str(t), physicsClientId=self.cid) for t in tex]
        self.static: list[int] = []
        self.floor = self._box((0, 0, -0.05), (4, 4, 0.05), 0, self._colour(0.5))
        self.wall = self._box((0, 1.6, 1.5), (4, 0.05, 1.5), 0, self._colour(0.6))
        self.static += [self.floor, self.wall]
        self.table = None
        if rng.random() < 0.5:
            th = float(rng.uniform(0.3, 0.7))
            self.table = self._box((float(rng.uniform(-0.5, 0.5)), float(rng.uniform(0.2, 0.8)),
                                    th / 2), (float(rng.uniform(0.3, 0.6)), 0.3, th / 2), 0,
                                   self._colour(0.5))
            self.static.append(self.table)
        light = rng.uniform([-1, -1, 1], [1, 1, 2])
        self.light = (light / np.linalg.norm(light)).tolist()
        self.shadow = int(rng.random() < 0.5)

    def _colour(self, base: float) -> list[float]:
        return [*np.clip(self.rng.uniform(base - 0.35, base + 0.35, 3), 0, 1).tolist(), 1.0]

    def _texture(self, body: int) -> None:
        if self.tex_ids and self.rng.random() < 0.85:
            self.p.changeVisualShape(body, -1, textureUniqueId=int(self.rng.choice(self.tex_ids)),
                                     rgbaColor=[1, 1, 1, 1], physicsClientId=self.cid)

    def _box(self, pos, half, mass, rgba, collide: bool = True) -> int:
        p = self.p
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba,
                                  physicsClientId=self.cid)
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.cid) \
            if collide else -1
        b = p.createMultiBody(mass, col, vis, basePosition=pos, physicsClientId=self.cid)
        self._texture(b)
        return b

    def thing(self, pos, size: float, mass: float, collide: bool = True) -> int:
        """A box, ball, cylinder or capsule about `size` m across."""
        p, rng = self.p, self.rng
        shape = int(rng.integers(4))
        rgba = self._colour(0.5)
        if shape == 0:
            half = (size / 2 * rng.uniform(0.5, 1.5, 3)).tolist()
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba,
                                      physicsClientId=self.cid)
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.cid)
        elif shape == 1:
            vis = p.createVisualShape(p.GEOM_SPHERE, radius=size / 2, rgbaColor=rgba,
                                      physicsClientId=self.cid)
            col = p.createCollisionShape(p.GEOM_SPHERE, radius=size / 2, physicsClientId=self.cid)
        else:
            geom = p.GEOM_CYLINDER if shape == 2 else p.GEOM_CAPSULE
            r, ln = size / 4, size * float(rng.uniform(0.8, 2.5))
            vis = p.createVisualShape(geom, radius=r, length=ln, rgbaColor=rgba,
                                      physicsClientId=self.cid)
            col = p.createCollisionShape(geom, radius=r, height=ln, physicsClientId=self.cid)
        orn = p.getQuaternionFromEuler(rng.uniform(-math.pi, math.pi, 3).tolist())
        b = p.createMultiBody(mass, col if collide else -1, vis, basePosition=list(pos),
                              baseOrientation=orn, physicsClientId=self.cid)
        p.changeDynamics(b, -1, restitution=float(rng.uniform(0.1, 0.6)),
                         lateralFriction=float(rng.uniform(0.4, 1.0)), physicsClientId=self.cid)
        self._texture(b)
        return b

    def render(self, eye, target, fov: float) -> np.ndarray:
        p = self.p
        view = p.computeViewMatrix(eye, target, [0, 0, 1], physicsClientId=self.cid)
        proj = p.computeProjectionMatrixFOV(fov, self.width / self.height, 0.05, 20,
                                            physicsClientId=self.cid)
        img = p.getCameraImage(self.width, self.height, view, proj, renderer=p.ER_TINY_RENDERER,
                               shadow=self.shadow, lightDirection=self.light,
                               physicsClientId=self.cid)[2]
        return np.asarray(img, np.uint8).reshape(self.height, self.width, 4)[..., :3]

    def close(self) -> None:
        self.p.disconnect(self.cid)


def _ease(u: np.ndarray, how: str) -> np.ndarray:
    """Progress 0..1 along a path for time fraction u in 0..1."""
    u = np.clip(u, 0.0, 1.0)
    if how == "abrupt":
        return u
    if how == "ease_out":
        return 1 - (1 - u) ** 3
    return u * u * (3 - 2 * u)          # "ease" in and out


def render_clip(seed: int, kind: str, out_mp4: Path, media_root: Path, *, fps: int | None = None,
                seconds: float = 2.5, width: int = 256, height: int = 192,
                scene: str | None = None, encode: bool = True,
                trace: list | None = None) -> Label:
    """Render one labelled clip to `out_mp4` (H.264) and return its labels.

    kind "contact" or "midair"; scene picks one scenario of that kind (random if None).
    encode=False returns the labels without writing a video (for tests of the labels);
    a list given as `trace` gets (time s, body, AABB min xyz, AABB max xyz) of every moving
    thing after each physics step, and the ids of the floor, wall and table first."""
    rng = np.random.default_rng(seed)
    fps = int(fps or rng.choice([24, 25, 30]))
    if PHYSICS_HZ % fps:
        fps = 24
    spf = PHYSICS_HZ // fps
    n_frames = round(seconds * fps)
    sc = _Scene(rng, textures(media_root), width, height)
    p, cid = sc.p, sc.cid
    label = Label(kind, "", fps, width, height, n_frames, seed=seed)
    # The camera: looking at the action from 0.8-3 m (things from a few pixels to half of
    # the picture), a little shake, sometimes a pan that stops (a silent "stop" of the picture).
    centre = np.array([rng.uniform(-0.4, 0.4), rng.uniform(0.0, 0.8), rng.uniform(0.3, 0.8)])
    dist = float(rng.uniform(0.8, 3.0))
    az = float(rng.uniform(-0.7, 0.7))
    el = float(rng.uniform(0.05, 0.5))
    fov = float(rng.uniform(35, 60))
    shake = float(rng.choice([0.0, 0.002, 0.006])) * dist
    n_steps = n_frames * spf
    eye_off = np.cumsum(rng.normal(0, shake, (n_steps + 1, 3)), axis=0) * 0.2 if shake else \
        np.zeros((n_steps + 1, 3))
    pan = np.zeros((n_steps + 1, 3))
    kinematic: list[tuple[int, Callable]] = []     # body, step -> (pos, orn)
    scripted: list[dict] = []

    def t_of(step: int) -> float:
        return step / PHYSICS_HZ

    if kind == "contact":
        scene = scene or str(rng.choice(["drop", "drop", "throw", "swing", "pile"]))
        n_obj = 1 if scene == "swing" else int(rng.integers(1, 4))
        bodies = []
        for _ in range(n_obj):
            size = float(rng.uniform(0.08, 0.5))
            t0 = float(rng.uniform(0.1, seconds * 0.5))
            if scene in ("drop", "pile"):
                base_z = sc.p.getAABB(sc.table, physicsClientId=cid)[1][2] \
                    if sc.table is not None and rng.random() < 0.5 else 0.0
                pos = centre + [rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2), 0]
                pos[2] = base_z + size + float(rng.uniform(0.2, 1.2))
                vel = [*rng.uniform(-0.8, 0.8, 2).tolist(), float(rng.uniform(-1, 0.5))]
            elif scene == "throw":
                pos = centre + [rng.uniform(-1.0, 1.0), rng.uniform(-0.8, -0.2),
                                rng.uniform(0.2, 0.9)]
                target = np.array([rng.uniform(-0.5, 0.5), 1.5, rng.uniform(0.3, 1.2)]) \
                    if rng.random() < 0.6 else np.array([*centre[:2], 0.0])
                d = target - pos
                fly = float(rng.uniform(0.25, 0.6))
                vel = (d / fly + [0, 0, G * fly / 2]).tolist()
            else:   # swing: held at a speed towards the wall (or table top) until it touches
                pos = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.6, 1.1),
                                rng.uniform(0.4, 1.4)])
                vel = [*rng.uniform(-0.5, 0.5, 1).tolist(), float(rng.uniform(1.5, 5.0)),
                       float(rng.uniform(-1.0, 0.5))]
            b = sc.thing(pos, size, float(rng.uniform(0.1, 2.0)))
            bodies.append((b, np.asarray(pos, float), np.asarray(vel, float), t0))
        label.scene = scene
        held = {b: (pos, vel, t0) for b, pos, vel, t0 in bodies}
        released: set[int] = set()
        for b, pos, _, _ in bodies:       # waiting out of sight until thrown in
            p.resetBasePositionAndOrientation(b, (pos + [0, 0, 30]).tolist(), [0, 0, 0, 1],
                                              physicsClientId=cid)
    else:
        scene = scene or str(rng.choice(["stop", "stop", "recoil", "wave", "arm", "pan"]))
        label.scene = scene
        # Mid-air things move at least 0.2 m clear of the floor, the table and the wall (they
        # have no collision shape: a thing drawn through the table would look like a contact).
        centre[2] = float(rng.uniform(0.9, 1.3))
        for _ in range(1 if scene == "pan" else int(rng.integers(1, 3))):
            size = float(rng.uniform(0.08, 0.5))
            b = sc.thing(centre, size, 0.0, collide=False)
            for _try in range(50):
                a = centre + rng.uniform([-0.6, -0.3, -0.1], [0.6, 0.3, 0.4])
                d = rng.normal(0, 1, 3)
                d *= float(rng.uniform(0.3, 1.2)) / np.linalg.norm(d)
                ends = [a, a + d, a - 0.4 * d, a + 0.4 * d,
                        *(a + 0.6 * np.array([math.cos(x), 0, math.sin(x)])
                          for x in np.linspace(0, 3.2, 9))]
                if all(e[2] - size > 0.95 and e[1] + size < 1.35 for e in ends):
                    break
            t0 = float(rng.uniform(0.1, seconds * 0.4))
            dur = float(rng.uniform(0.15, 0.6))
            how = str(rng.choice(["abrupt", "ease_out", "ease"]))
            if scene == "pan":
                a, d = centre + [0, 0, 0.2], np.zeros(3)
            spin = rng.normal(0, 3, 3)
            arm_r = float(rng.uniform(0.2, 0.6))
            rng.uniform(1.5, 3.0)      # (drawn and unused: keeps the seeds' clips as rendered)

            def path(step, a=a, d=d, t0=t0, dur=dur, how=how, scene=scene, spin=spin, r=arm_r):
                t = t_of(step)
                if scene == "recoil":       # out and straight back
                    u = (t - t0) / dur
                    prog = _ease(u, how) if u < 1 else 1 - _ease((t - t0 - dur) / dur, "ease")
                    return a + d * prog, spin * prog * 0.3
                if scene == "wave":         # a few cycles, then held
                    u = np.clip(t - t0, 0, 2 * dur * 2)
                    return a + d * 0.4 * math.sin(math.pi * u / dur * 1.0), spin * 0.1 * u
                if scene == "arm":          # an arm swinging about a shoulder, stopping
                    ang = _ease(np.array((t - t0) / dur), how) * float(np.linalg.norm(d)) * 2.5
                    return a + r * np.array([math.cos(ang), 0, math.sin(ang)]), \
                        np.array([0, -ang, 0])
                prog = _ease(np.array((t - t0) / dur), how)
                return a + d * prog, spin * prog * 0.3

            kinematic.append((b, path))
            if scene == "recoil":
                scripted += [{"t": t0 + dur, "how": how}, {"t": t0 + 2 * dur, "how": "ease"}]
            elif scene == "wave":
                scripted += [{"t": t0 + dur * (k + 0.5), "how": "reverse"} for k in range(4)]
                scripted.append({"t": t0 + 4 * dur, "how": "held"})
            elif scene == "pan":
                # The camera pans and stops: no thing moves, the whole picture does.
                v = rng.normal(0, 1, 3) * [1, 0, 0.3]
                v *= float(rng.uniform(0.3, 1.5)) / np.linalg.norm(v)
                prog = _ease((np.arange(n_steps + 1) / PHYSICS_HZ - t0) / (dur * 2), how)
                pan = prog[:, None] * v[None, :]
                scripted.append({"t": t0 + 2 * dur, "how": how})
            else:
                scripted.append({"t": t0 + dur, "how": how})
        label.stops = [s for s in scripted if 0 < s["t"] < seconds]
    if rng.random() < 0.4:   # a distractor drifting through at a constant speed
        b = sc.thing(centre, float(rng.uniform(0.05, 0.3)), 0.0, collide=False)
        a0 = centre + rng.uniform([-1.5, -0.5, 0.2], [-0.5, 0.5, 1.2])
        v = np.array([rng.uniform(0.3, 1.2), rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1)])
        kinematic.append((b, lambda step, a0=a0, v=v: (a0 + v * t_of(step), v * t_of(step))))

    if trace is not None:
        trace.append({"floor": sc.floor, "wall": sc.wall, "table": sc.table})
    frames = []
    # Motion blur: each frame is the mean of `sub` renders over the half frame before it.
    sub = 1 if rng.random() < 0.5 else 2
    gap = max(1, spf // (2 * sub))
    render_steps = {n * spf - k * gap for n in range(n_frames) for k in range(sub)
                    if n * spf - k * gap >= 0}
    in_contact: dict[tuple[int, int], int] = {}
    contacts = []
    for step in range(n_steps + 1):
        for b, path in kinematic:
            pos, eul = path(step)
            p.resetBasePositionAndOrientation(b, list(map(float, pos)),
                                              p.getQuaternionFromEuler(list(map(float, eul))),
                                              physicsClientId=cid)
        if kind == "contact":
            t = t_of(step)
            for b, (pos, vel, t0) in held.items():
                if b in released:
                    continue
                if t >= t0 and label.scene != "swing":
                    p.resetBasePositionAndOrientation(b, pos.tolist(),
                                                      p.getBasePositionAndOrientation(
                                                          b, physicsClientId=cid)[1],
                                                      physicsClientId=cid)
                    p.resetBaseVelocity(b, vel.tolist(), rng.normal(0, 4, 3).tolist(),
                                        physicsClientId=cid)
                    released.add(b)
                elif label.scene == "swing" and t >= t0:
                    # Held by a "hand": the velocity is imposed until the first touch.
                    if step == math.ceil(t0 * PHYSICS_HZ):
                        p.resetBasePositionAndOrientation(b, pos.tolist(), [0, 0, 0, 1],
                                                          physicsClientId=cid)
                    if p.getContactPoints(bodyA=b, physicsClientId=cid):
                        released.add(b)
                    else:
                        p.resetBaseVelocity(b, vel.tolist(), [0, 0, 0], physicsClientId=cid)
            # Velocities before the step: the impact speed of a contact that starts in it.
            before = {b: np.array(p.getBaseVelocity(b, physicsClientId=cid)[0]) for b in held}
            p.stepSimulation(physicsClientId=cid)
            now: dict[tuple[int, int], float] = {}
            for b in held:
                for cp in p.getContactPoints(bodyA=b, physicsClientId=cid):
                    other = cp[2]
                    key = (min(b, other), max(b, other))
                    normal = np.array(cp[7])     # on B, pointing towards A
                    vb = before.get(other, np.zeros(3))
                    speed = abs(float(np.dot(before[b] - vb, normal)))
                    now[key] = max(now.get(key, 0.0), speed)
            for key, speed in now.items():
                # A new contact: this pair did not touch in the last 0.05 s.
                if step - in_contact.get(key, -10 ** 9) > PHYSICS_HZ * 0.05:
                    contacts.append({"t": round((step + 1) / PHYSICS_HZ, 6),
                                     "speed": round(speed, 4), "a": key[0], "b": key[1]})
                in_contact[key] = step
            if trace is not None:
                for b in held:
                    lo, hi = p.getAABB(b, physicsClientId=cid)
                    trace.append(((step + 1) / PHYSICS_HZ, b, lo, hi))
        else:
            if trace is not None:
                for b, _ in kinematic:
                    lo, hi = p.getAABB(b, physicsClientId=cid)
                    trace.append((step / PHYSICS_HZ, b, lo, hi))
            for b, _ in kinematic:       # nothing in a mid-air clip can touch anything
                if p.getContactPoints(bodyA=b, physicsClientId=cid):
                    raise AssertionError("a mid-air clip has a contact")
        if encode and step in render_steps:
            eye_c = centre + pan[step] + dist * np.array([math.sin(az) * math.cos(el),
                                                            -math.cos(az) * math.cos(el),
                                                            math.sin(el)])
            img = sc.render((eye_c + eye_off[step]).tolist(),
                            (centre + pan[step] + eye_off[step] * 0.5).tolist(), fov)
            frames.append((step, img))
    sc.close()
    # Contacts of things released at rest on the floor at t0 make no sound; keep all, with speed.
    label.contacts = contacts
    if encode:
        _encode(frames, spf, sub, n_frames, fps, rng, out_mp4)
    return label


def _encode(frames, spf: int, sub: int, n_frames: int, fps: int, rng, out_mp4: Path) -> None:
    """Average each frame's sub-frames (motion blur), add noise, write H.264 via ffmpeg."""
    by_frame: dict[int, list[np.ndarray]] = {}
    for step, img in frames:
        by_frame.setdefault(math.ceil(step / spf), []).append(img.astype(np.float32))
    noise = float(rng.choice([0.0, 2.0, 4.0, 7.0]))
    crf = int(rng.integers(20, 35))
    out_mp4 = Path(out_mp4)
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_mp4.with_suffix(".part.mp4")
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
           f"{frames[0][1].shape[1]}x{frames[0][1].shape[0]}", "-r", str(fps), "-i", "-",
           "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
           "-threads", "1", str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for n in range(n_frames):
        img = np.mean(by_frame[n], axis=0)
        if noise:
            img = img + rng.normal(0, noise, img.shape)
        proc.stdin.write(np.clip(img, 0, 255).astype(np.uint8).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed on {out_mp4}")
    tmp.replace(out_mp4)


def write_label(label: Label, path: Path) -> None:
    with atomic_write(Path(path), "w") as f:
        f.write(json.dumps(asdict(label), indent=1) + "\n")
