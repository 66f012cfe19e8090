"""More ways of saying each training class, for caption-swap augmentation while fine-tuning.

The rendered set gives every clip one caption drawn from a handful per class (sounds.py), so
the denoiser meets few wordings and follows an unseen one poorly (the prompt-adherence check
with evaluate.UNSEEN_PROMPTS). `paraphrase()` rewrites a clip's caption with another wording
of the same class, and its background phrase ("…, with X in the background") with another
wording of the background's class, so the model learns that the meaning, not the words,
chooses the sound. The pools live here and not in sounds.py because the dataset renderer draws
captions from sounds.py with its seeded generator: adding wordings there would change the
rendered set. None of these is an evaluation prompt (tests/test_train_classifier.py checks).
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .sounds import HELDOUT_CLASSES, STEP_TEMPLATES, SURFACES, classes

# Footsteps: more templates and surface names, combined like sounds.py's; "{} footsteps" takes
# the bare surface word ("gravel footsteps"), the short form people type.
STEP_TEMPLATES_EXTRA = ["feet stepping on {}", "footfalls on {}", "treading on {}",
                        "shoes stepping on {}", "a person strides over {}"]
SURFACES_EXTRA = {
    "dirt": ["packed earth", "a dusty track"],
    "grass": ["a meadow", "turf"],
    "gravel": ["pebbles", "crushed stone"],
    "sand": ["a beach", "sandy ground"],
    "wood": ["a wooden deck", "floorboards"],
    "hard": ["asphalt", "a paved street"],
    "metal": ["sheet metal", "a metal staircase"],
    "ice": ["a frozen pond", "hard ice"],
    "glass": ["a glass bridge", "a glass panel floor"],
    "water": ["a flooded floor", "a wet street"],
}
EXTRA = {
    "door_open": ["a door is opened", "the door opens with a creak", "a hinge creaks as a door opens",
                  "opening a gate", "a cupboard door opening", "door opening"],
    "door_close": ["a door is shut", "slamming a door", "the door closes with a thud", "door slam",
                   "a gate shutting", "a cabinet door closing"],
    "glass_break": ["shattering glass", "a glass smashes on the floor", "a pane of glass breaking",
                    "smashed glass", "glass crash"],
    "impact": ["a crate falls over", "a bump on the floor", "an object knocks against the ground",
               "a wooden block set down hard", "a heavy object lands"],
    "metal_hit": ["clanging metal", "a metallic bang", "a wrench clanks", "steel hitting steel",
                  "a pan clatters"],
    "explosion": ["a blast", "a massive explosion", "a detonation", "something blows up",
                  "a thunderous boom"],
    "water_drop": ["a drop of water", "dripping water", "a plop in water",
                   "a pebble dropped into water", "drops hitting a puddle"],
    "dog_bark": ["dog barking", "a barking hound", "a dog barks twice", "a big dog barking",
                 "a dog barks at someone"],
    "fire": ["fire burning", "a crackling fire", "embers crackling", "a roaring blaze",
             "flames burning"],
    "water_flow": ["a gushing stream", "water trickling", "a fountain splashing",
                   "a rushing current", "a tap running"],
    "crowd": ["a room full of people talking", "spectators cheering", "a murmuring crowd",
              "crowd chatter", "a cheering crowd"],
    "vehicle_pass": ["a car going by", "traffic passing", "a truck rumbles by",
                     "an engine passing by", "a scooter passes"],
}

_BACKGROUND = re.compile(r"^(?P<fg>.*), with (?P<bg>.*) in the background$")


def pools() -> dict[str, list[str]]:
    """Every wording of every trained class: sounds.py's captions first, then the extra ones.
    The held-out classes get none (the model must only meet their names at evaluation)."""
    out = {}
    for c in classes():
        if c.name in HELDOUT_CLASSES:
            continue
        words = list(c.captions)
        if c.name.startswith("footsteps_"):
            s = c.params["surface"]
            names = SURFACES[s] + SURFACES_EXTRA[s]
            words += [t.format(n) for t in STEP_TEMPLATES + STEP_TEMPLATES_EXTRA for n in names]
            words.append(f"{SURFACES[s][0]} footsteps")
        else:
            words += EXTRA[c.name]
        out[c.name] = list(dict.fromkeys(words))          # unique, order kept
    return out


@lru_cache(maxsize=1)
def _background_classes() -> dict[str, str]:
    """Background phrase (a caption of an ambience class, as the renderer writes it) -> class."""
    return {cap: c.name for c in classes() if c.kind == "ambience" for cap in c.captions}


def paraphrase(caption: str, cls: str, rng: np.random.Generator,
               table: dict[str, list[str]] | None = None) -> str:
    """`caption` of a clip of class `cls` said another way: the foreground from the class's pool,
    the background phrase (if any) from its class's pool. Unknown backgrounds are kept."""
    table = table if table is not None else pools()
    m = _BACKGROUND.match(caption)
    fg = table[cls][rng.integers(len(table[cls]))]
    if m is None:
        return fg
    bg = m["bg"]
    bg_cls = _background_classes().get(bg)
    if bg_cls in table:
        bg = table[bg_cls][rng.integers(len(table[bg_cls]))]
    return f"{fg}, with {bg} in the background"


def prompt_examples() -> list[str]:
    """The package's `text.examples`: the dataset captions of every trained class (what the
    model follows best), grouped by class, for the GUI's prompt completion."""
    return [cap for c in classes() if c.name not in HELDOUT_CLASSES for cap in c.captions]
